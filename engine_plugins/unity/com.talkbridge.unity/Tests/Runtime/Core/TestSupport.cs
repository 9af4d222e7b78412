// Where the golden fixtures are, and how a test that needs an outside resource behaves when it
// is missing: ignored in a Unity project, a failure when CI is set (CI never skips silently).
using System;
using System.Globalization;
using System.IO;
using NUnit.Framework;

namespace TalkBridge.Tests
{
    static class TestSupport
    {
        public static bool InCi => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI"));

        public static void Unavailable(string why)
        {
            if (InCi) Assert.Fail(why + " (CI is set, so this is a failure, not a skip)");
            Assert.Ignore(why);
        }

        /// <summary>tests/fixtures/protocol: $TALKBRIDGE_FIXTURES, or found above the working directory or this assembly.</summary>
        public static string FixtureDir()
        {
            string configured = Environment.GetEnvironmentVariable("TALKBRIDGE_FIXTURES");
            if (!string.IsNullOrEmpty(configured) && Directory.Exists(configured)) return configured;
            foreach (string start in new[] { Directory.GetCurrentDirectory(), Path.GetDirectoryName(typeof(TestSupport).Assembly.Location) })
            {
                for (var dir = start == null ? null : new DirectoryInfo(start); dir != null; dir = dir.Parent)
                {
                    string candidate = Path.Combine(dir.FullName, "tests", "fixtures", "protocol");
                    if (File.Exists(Path.Combine(candidate, "hello.msgpack"))) return candidate;
                }
            }
            return null;
        }

        public static byte[] Fixture(string stem)
        {
            string dir = FixtureDir();
            if (dir == null) Unavailable("golden fixtures not found: set TALKBRIDGE_FIXTURES to tests/fixtures/protocol");
            return File.ReadAllBytes(Path.Combine(dir, stem + ".msgpack"));
        }

        public static byte[] Hex(string hex)
        {
            var bytes = new byte[hex.Length / 2];
            for (int i = 0; i < bytes.Length; i++) bytes[i] = byte.Parse(hex.Substring(2 * i, 2), NumberStyles.HexNumber);
            return bytes;
        }

        public static string ToHex(byte[] bytes) => BitConverter.ToString(bytes).Replace("-", "").ToLowerInvariant();
    }
}
