// Unity-only (UnityEditor): compiled and run by Unity's Test Runner in Edit Mode.
using NUnit.Framework;
using TalkBridge.Core;
using TalkBridge.Editor;

namespace TalkBridge.Editor.Tests
{
    public class TalkBridgeFaceEditorTests
    {
        [Test]
        public void UnmatchedListsOnlyArkitCurvesWithoutABlendshape()
        {
            var channels = new[] { "jawOpen", "tongueOut", "viseme_aa", "cheekPuff" };
            var matches = new[] { "JawOpen", null, null, null };
            CollectionAssert.AreEqual(new[] { "tongueOut", "cheekPuff" },
                TalkBridgeFaceEditor.Unmatched(channels, matches, ChannelNames.Arkit52));
        }
    }
}
