// Unity-only (UnityEngine): compiled and run by Unity's Test Runner, not by CI's mcs build.
using NUnit.Framework;
using TalkBridge.Core;
using UnityEngine;

namespace TalkBridge.Tests
{
    public class TalkBridgeFaceTests
    {
        static SkinnedMeshRenderer MeshWith(params string[] shapes)
        {
            var mesh = new Mesh { vertices = new[] { Vector3.zero, Vector3.right, Vector3.up }, triangles = new[] { 0, 1, 2 } };
            var delta = new Vector3[3];
            foreach (string shape in shapes) mesh.AddBlendShapeFrame(shape, 100f, delta, null, null);
            var smr = new GameObject("Head").AddComponent<SkinnedMeshRenderer>();
            smr.sharedMesh = mesh;
            return smr;
        }

        [Test]
        public void ArkitChannelsDrivePrefixedBlendshapesAt0To100()
        {
            SkinnedMeshRenderer smr = MeshWith("blendShape1.JawOpen", "blendShape1.EyeBlink_L", "Other");
            var face = smr.gameObject.AddComponent<TalkBridgeFace>();
            face.renderers = new[] { smr };
            face.Bind(new[] { "jawOpen", "eyeBlinkLeft", "tongueOut" });
            Assert.AreEqual(2, face.Bindings.Count);
            face.Apply(new[] { 0.5f, 1.5f, 1f });
            Assert.AreEqual(50f, smr.GetBlendShapeWeight(0), 1e-4);
            Assert.AreEqual(100f, smr.GetBlendShapeWeight(1), 1e-4, "clamped to 100");
            Assert.AreEqual(0f, smr.GetBlendShapeWeight(2));
            Object.DestroyImmediate(smr.gameObject);
        }

        [Test]
        public void ReadyPlayerMeVisemesAndMapGainOffset()
        {
            SkinnedMeshRenderer smr = MeshWith("viseme_aa", "viseme_I");
            var face = smr.gameObject.AddComponent<TalkBridgeFace>();
            face.renderers = new[] { smr };
            face.visemeTargets = VisemeTargets.ReadyPlayerMe;
            face.map = ScriptableObject.CreateInstance<TalkBridgeFaceMap>();
            face.map.entries.Add(new TalkBridgeFaceMap.Entry { channel = "viseme_aa", gain = 0.5f, offset = 0.1f });
            face.Bind(new[] { "viseme_aa", "viseme_ih" });
            face.Apply(new[] { 0.8f, 0.25f });
            Assert.AreEqual(50f, smr.GetBlendShapeWeight(0), 1e-3);
            Assert.AreEqual(25f, smr.GetBlendShapeWeight(1), 1e-3);
            Object.DestroyImmediate(smr.gameObject);
        }
    }
}
