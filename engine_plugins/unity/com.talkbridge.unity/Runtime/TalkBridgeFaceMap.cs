// An editable channel → blendshape map: overrides the automatic name matching per channel
// and adds gain/offset (weight = clamp01(value × gain + offset) × 100 on the mesh).
using System;
using System.Collections.Generic;
using UnityEngine;

namespace TalkBridge
{
    [CreateAssetMenu(menuName = "TalkBridge/Face Map", fileName = "TalkBridgeFaceMap")]
    public sealed class TalkBridgeFaceMap : ScriptableObject
    {
        [Serializable]
        public sealed class Entry
        {
            [Tooltip("Channel name as the server sends it, e.g. jawOpen or viseme_aa")]
            public string channel = "";
            [Tooltip("Blendshape on the mesh; empty: matched automatically")]
            public string blendShape = "";
            public float gain = 1f;
            public float offset;
            [Tooltip("Leave this channel off the mesh")]
            public bool disabled;
        }

        public List<Entry> entries = new List<Entry>();

        public Entry Find(string channel)
        {
            foreach (Entry e in entries) if (e.channel == channel) return e;
            return null;
        }

        /// <summary>channel → blendshape name, for entries that name one.</summary>
        public Dictionary<string, string> Aliases()
        {
            var aliases = new Dictionary<string, string>();
            foreach (Entry e in entries)
                if (!e.disabled && !string.IsNullOrEmpty(e.channel) && !string.IsNullOrEmpty(e.blendShape)) aliases[e.channel] = e.blendShape;
            return aliases;
        }
    }
}
