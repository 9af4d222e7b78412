// Drives SkinnedMeshRenderer blendshapes from TalkBridgeAudio's pose, in LateUpdate so it
// lands after the Animator. Channels find blendshapes by name (TalkBridge.Core.ChannelNames:
// exact, then ignoring case, separators and exporter prefixes), through an optional map asset
// with gain/offset, and optional viseme targets for Ready Player Me or VRoid/VRM meshes.
// ARKit weights are 0..1; Unity blendshape weights are 0..100.
using System;
using System.Collections.Generic;
using TalkBridge.Core;
using UnityEngine;

namespace TalkBridge
{
    public enum VisemeTargets
    {
        /// <summary>Only channels whose names match (ARKit-52 meshes, or visemes named as sent).</summary>
        None,
        /// <summary>viseme_ih/oh/ou → viseme_I/O/U, the rest as sent (viseme_sil … viseme_aa, viseme_E).</summary>
        ReadyPlayerMe,
        /// <summary>viseme_aa/ih/ou/E/oh → Fcl_MTH_A/I/U/E/O (VRoid meshes).</summary>
        Vrm,
    }

    [AddComponentMenu("TalkBridge/TalkBridge Face")]
    public sealed class TalkBridgeFace : MonoBehaviour
    {
        public struct Binding
        {
            public int Renderer, Shape, Channel;
            public float Gain, Offset;
        }

        [Tooltip("Defaults to a TalkBridgeAudio in the parents or the scene")]
        public TalkBridgeAudio source;
        [Tooltip("Meshes to drive; empty: every SkinnedMeshRenderer under this GameObject")]
        public SkinnedMeshRenderer[] renderers = new SkinnedMeshRenderer[0];
        public TalkBridgeFaceMap map;
        public VisemeTargets visemeTargets = VisemeTargets.None;
        [Range(0f, 2f)] public float intensity = 1f;
        [Tooltip("Scale from 0..1 channel weights to blendshape weights (100 for Unity meshes)")]
        public float weightScale = 100f;

        readonly List<Binding> bindings = new List<Binding>();
        string[] boundChannels;

        public IList<Binding> Bindings => bindings;

        void Awake()
        {
            if (source == null) source = GetComponentInParent<TalkBridgeAudio>();
#if UNITY_2023_1_OR_NEWER
            if (source == null) source = FindFirstObjectByType<TalkBridgeAudio>();  // FindObjectOfType is obsolete from 2023.1
#else
            if (source == null) source = FindObjectOfType<TalkBridgeAudio>();
#endif
            if (renderers == null || renderers.Length == 0) renderers = GetComponentsInChildren<SkinnedMeshRenderer>();
        }

        void LateUpdate()
        {
            if (source == null) return;
            string[] channels = source.Channels;
            if (channels.Length == 0) return;
            if (!ReferenceEquals(channels, boundChannels)) Bind(channels);
            Apply(source.Pose);
        }

        /// <summary>Resolves blendshape indices once per session (call again after changing the map or meshes).</summary>
        public void Bind(string[] channels)
        {
            boundChannels = channels;
            bindings.Clear();
            IDictionary<string, string> aliases = Aliases();
            for (int r = 0; r < renderers.Length; r++)
            {
                if (renderers[r] == null || renderers[r].sharedMesh == null) continue;
                int[] match = ChannelNames.Match(channels, ShapeNames(renderers[r].sharedMesh), aliases);
                for (int c = 0; c < channels.Length; c++)
                {
                    TalkBridgeFaceMap.Entry entry = map != null ? map.Find(channels[c]) : null;
                    if (match[c] < 0 || (entry != null && entry.disabled)) continue;
                    bindings.Add(new Binding { Renderer = r, Shape = match[c], Channel = c,
                                               Gain = entry != null ? entry.gain : 1f, Offset = entry != null ? entry.offset : 0f });
                }
            }
        }

        /// <summary>Writes one pose (one weight per bound channel, 0..1) onto the meshes.</summary>
        public void Apply(float[] pose)
        {
            foreach (Binding b in bindings)
            {
                if (b.Channel >= pose.Length) continue;
                float w = Mathf.Clamp01(pose[b.Channel] * b.Gain * intensity + b.Offset);
                renderers[b.Renderer].SetBlendShapeWeight(b.Shape, w * weightScale);
            }
        }

        /// <summary>The aliases in force: the viseme preset, overridden by the map's named blendshapes.</summary>
        public IDictionary<string, string> Aliases()
        {
            var aliases = new Dictionary<string, string>();
            if (visemeTargets == VisemeTargets.ReadyPlayerMe) Merge(aliases, ChannelNames.ReadyPlayerMeVisemes);
            if (visemeTargets == VisemeTargets.Vrm) Merge(aliases, ChannelNames.VrmVisemes);
            if (map != null) Merge(aliases, map.Aliases());
            return aliases;
        }

        static void Merge(Dictionary<string, string> into, IDictionary<string, string> from)
        {
            foreach (var pair in from) into[pair.Key] = pair.Value;
        }

        public static string[] ShapeNames(Mesh mesh)
        {
            var names = new string[mesh.blendShapeCount];
            for (int i = 0; i < names.Length; i++) names[i] = mesh.GetBlendShapeName(i);
            return names;
        }

        /// <summary>What Bind would do for these channels: per renderer, the matched shape name (or null) per channel.</summary>
        public List<string[]> Preview(string[] channels)
        {
            var result = new List<string[]>();
            IDictionary<string, string> aliases = Aliases();
            foreach (SkinnedMeshRenderer smr in renderers)
            {
                var row = new string[channels.Length];
                if (smr != null && smr.sharedMesh != null)
                {
                    string[] shapes = ShapeNames(smr.sharedMesh);
                    int[] match = ChannelNames.Match(channels, shapes, aliases);
                    for (int c = 0; c < channels.Length; c++) row[c] = match[c] >= 0 ? shapes[match[c]] : null;
                }
                result.Add(row);
            }
            return result;
        }
    }
}
