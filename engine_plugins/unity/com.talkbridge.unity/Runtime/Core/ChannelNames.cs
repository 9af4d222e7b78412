// Channel names of protocol v1 and how they find blendshapes on a mesh: exact name first,
// then a match that ignores case, separators and the prefixes exporters add
// ("blendShape1.", "Wolf3D_Head.", "ARKit_", "BS_"…), with _L/_R read as Left/Right.
using System;
using System.Collections.Generic;
using System.Text;

namespace TalkBridge.Core
{
    public static class ChannelNames
    {
        /// <summary>The ARKit 52 in canonical order (PROTOCOLS.md §1): the columns of the "arkit52" set.</summary>
        public static readonly string[] Arkit52 =
        {
            "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeSquintLeft",
            "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
            "eyeSquintRight", "eyeWideRight", "jawForward", "jawLeft", "jawRight", "jawOpen", "mouthClose",
            "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight", "mouthSmileLeft", "mouthSmileRight",
            "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft",
            "mouthStretchRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
            "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
            "mouthUpperUpRight", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
            "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft",
            "noseSneerRight", "tongueOut",
        };

        /// <summary>The 15 Oculus visemes in OVRLipSync order: the columns of the "visemes" set.</summary>
        public static readonly string[] Visemes =
        {
            "viseme_sil", "viseme_PP", "viseme_FF", "viseme_TH", "viseme_DD", "viseme_kk", "viseme_CH", "viseme_SS",
            "viseme_nn", "viseme_RR", "viseme_aa", "viseme_E", "viseme_ih", "viseme_oh", "viseme_ou",
        };

        /// <summary>Ready Player Me names its vowel visemes viseme_I/O/U; the rest match the channel names.</summary>
        public static readonly Dictionary<string, string> ReadyPlayerMeVisemes = new Dictionary<string, string>
        {
            { "viseme_ih", "viseme_I" }, { "viseme_oh", "viseme_O" }, { "viseme_ou", "viseme_U" },
        };

        /// <summary>VRoid/VRM meshes: the five mouth shapes (aa→A, ih→I, ou→U, E→E, oh→O, a convention, not a spec).</summary>
        public static readonly Dictionary<string, string> VrmVisemes = new Dictionary<string, string>
        {
            { "viseme_aa", "Fcl_MTH_A" }, { "viseme_ih", "Fcl_MTH_I" }, { "viseme_ou", "Fcl_MTH_U" },
            { "viseme_E", "Fcl_MTH_E" }, { "viseme_oh", "Fcl_MTH_O" },
        };

        static readonly string[] Prefixes = { "blendshape", "arkit", "bs", "shape", "facs" };

        /// <summary>The comparable core of a name: no mesh prefix, lower case, no separators, _l/_r → left/right.</summary>
        public static string Normalize(string name)
        {
            if (string.IsNullOrEmpty(name)) return "";
            string text = name;
            int dot = text.LastIndexOf('.');
            if (dot >= 0 && dot < text.Length - 1) text = text.Substring(dot + 1);
            text = text.ToLowerInvariant();
            if (EndsWithSide(text, 'l')) text = text.Substring(0, text.Length - 1) + "left";
            else if (EndsWithSide(text, 'r')) text = text.Substring(0, text.Length - 1) + "right";
            var core = new StringBuilder(text.Length);
            foreach (char c in text) if (char.IsLetterOrDigit(c)) core.Append(c);
            return StripPrefix(core.ToString());
        }

        static bool EndsWithSide(string text, char side) =>
            text.Length > 2 && text[text.Length - 1] == side && (text[text.Length - 2] == '_' || text[text.Length - 2] == ' ');

        static string StripPrefix(string text)
        {
            foreach (string prefix in Prefixes)
            {
                if (!text.StartsWith(prefix, StringComparison.Ordinal)) continue;
                string rest = text.Substring(prefix.Length);
                while (rest.Length > 0 && char.IsDigit(rest[0])) rest = rest.Substring(1); // blendShape1.
                if (rest.Length > 0) return rest;
            }
            return text;
        }

        /// <summary>For each channel, the index of its blendshape in <paramref name="shapes"/>, or -1.</summary>
        /// <param name="aliases">Optional channel → preferred blendshape name (viseme presets, a user map).</param>
        public static int[] Match(IList<string> channels, IList<string> shapes, IDictionary<string, string> aliases = null)
        {
            var exact = new Dictionary<string, int>(StringComparer.Ordinal);
            var loose = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < shapes.Count; i++)
            {
                if (!exact.ContainsKey(shapes[i])) exact.Add(shapes[i], i);
                string key = Normalize(shapes[i]);
                if (key.Length > 0 && !loose.ContainsKey(key)) loose.Add(key, i);
            }
            var result = new int[channels.Count];
            for (int c = 0; c < channels.Count; c++)
            {
                string alias;
                string wanted = aliases != null && aliases.TryGetValue(channels[c], out alias) ? alias : channels[c];
                result[c] = Find(wanted, exact, loose);
                if (result[c] < 0 && wanted != channels[c]) result[c] = Find(channels[c], exact, loose);
            }
            return result;
        }

        static int Find(string name, Dictionary<string, int> exact, Dictionary<string, int> loose)
        {
            int index;
            if (exact.TryGetValue(name, out index)) return index;
            return loose.TryGetValue(Normalize(name), out index) ? index : -1;
        }
    }

    /// <summary>Reconnect delays: doubling from Initial up to Max, with ±Jitter so many clients don't retry in step.</summary>
    public sealed class Backoff
    {
        readonly Random random;
        double next;

        public Backoff(double initial = 0.5, double max = 10, double jitter = 0.2, Random random = null)
        {
            Initial = initial; Max = max; Jitter = jitter;
            this.random = random ?? new Random();
            next = initial;
        }

        public double Initial { get; }
        public double Max { get; }
        public double Jitter { get; }
        public int Attempts { get; private set; }

        /// <summary>The delay before the next attempt, seconds.</summary>
        public double Next()
        {
            double delay = next * (1 + Jitter * (2 * random.NextDouble() - 1));
            next = Math.Min(Max, next * 2);
            Attempts++;
            return Math.Min(Max, delay);
        }

        /// <summary>After a successful connection (welcome received).</summary>
        public void Reset() { next = Initial; Attempts = 0; }
    }
}
