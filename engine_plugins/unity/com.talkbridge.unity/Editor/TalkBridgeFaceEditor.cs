// The TalkBridgeFace inspector: for each mesh, which blendshape every channel drives, and
// which ARKit curves found no blendshape (so a user sees at once why the mouth doesn't move).
using System.Collections.Generic;
using TalkBridge.Core;
using UnityEditor;
using UnityEngine;

namespace TalkBridge.Editor
{
    [CustomEditor(typeof(TalkBridgeFace))]
    public sealed class TalkBridgeFaceEditor : UnityEditor.Editor
    {
        bool showMatches = true;

        public override void OnInspectorGUI()
        {
            DrawDefaultInspector();
            var face = (TalkBridgeFace)target;
            string[] channels = ChannelsFor(face);
            EditorGUILayout.Space();
            EditorGUILayout.LabelField("Name matching", EditorStyles.boldLabel);
            if (face.renderers == null || face.renderers.Length == 0)
            {
                EditorGUILayout.HelpBox("No SkinnedMeshRenderer assigned: at run time every one under this GameObject is used.", MessageType.Info);
                return;
            }
            List<string[]> preview = face.Preview(channels);
            for (int r = 0; r < face.renderers.Length; r++) DrawRenderer(face.renderers[r], channels, preview[r]);
            if (face.map == null && GUILayout.Button("Create a map asset from these matches")) CreateMap(face, channels, preview);
        }

        /// <summary>The session's channels while playing, else ARKit-52 + the visemes (what a server sends by default).</summary>
        static string[] ChannelsFor(TalkBridgeFace face)
        {
            if (Application.isPlaying && face.source != null && face.source.Channels.Length > 0) return face.source.Channels;
            var all = new List<string>(ChannelNames.Arkit52);
            if (face.visemeTargets != VisemeTargets.None) all.AddRange(ChannelNames.Visemes);
            return all.ToArray();
        }

        void DrawRenderer(SkinnedMeshRenderer smr, string[] channels, string[] matches)
        {
            if (smr == null || smr.sharedMesh == null) return;
            List<string> unmatched = Unmatched(channels, matches, ChannelNames.Arkit52);
            EditorGUILayout.LabelField(smr.name, matches.Length - CountNulls(matches) + " of " + channels.Length + " channels matched");
            if (unmatched.Count > 0)
                EditorGUILayout.HelpBox("ARKit curves with no blendshape: " + string.Join(", ", unmatched.ToArray()), MessageType.Warning);
            showMatches = EditorGUILayout.Foldout(showMatches, "Channel → blendshape");
            if (!showMatches) return;
            EditorGUI.indentLevel++;
            for (int c = 0; c < channels.Length; c++)
            {
                var style = matches[c] != null ? EditorStyles.label : EditorStyles.miniLabel;
                EditorGUILayout.LabelField(channels[c], matches[c] ?? "— none —", style);
            }
            EditorGUI.indentLevel--;
        }

        /// <summary>The channels of <paramref name="among"/> that matched nothing, in order.</summary>
        internal static List<string> Unmatched(string[] channels, string[] matches, IList<string> among)
        {
            var missing = new List<string>();
            for (int c = 0; c < channels.Length; c++)
                if (matches[c] == null && among.Contains(channels[c])) missing.Add(channels[c]);
            return missing;
        }

        static int CountNulls(string[] items)
        {
            int n = 0;
            foreach (string s in items) if (s == null) n++;
            return n;
        }

        static void CreateMap(TalkBridgeFace face, string[] channels, List<string[]> preview)
        {
            string path = EditorUtility.SaveFilePanelInProject("Face map", face.name + "FaceMap", "asset", "Where to save the map");
            if (string.IsNullOrEmpty(path)) return;
            var map = CreateInstance<TalkBridgeFaceMap>();
            for (int c = 0; c < channels.Length; c++)
            {
                string shape = null;
                foreach (string[] row in preview) shape = shape ?? row[c];
                map.entries.Add(new TalkBridgeFaceMap.Entry { channel = channels[c], blendShape = shape ?? "" });
            }
            AssetDatabase.CreateAsset(map, path);
            Undo.RecordObject(face, "Assign face map");
            face.map = map;
            EditorUtility.SetDirty(face);
        }
    }
}
