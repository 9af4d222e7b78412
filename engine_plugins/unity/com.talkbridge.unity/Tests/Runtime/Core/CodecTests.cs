using System;
using System.Collections.Generic;
using NUnit.Framework;
using TalkBridge.Core;

namespace TalkBridge.Tests
{
    [TestFixture]
    public class GoldenFixtureTests
    {
        static readonly string[] ServerFixtures =
            { "welcome", "utterance_start", "utterance_end", "audio", "curves", "curves_f32", "clear", "transcript", "reply", "error", "pong", "gesture" };
        static readonly string[] ClientFixtures = { "hello", "say", "audio_in", "mic", "chat", "interrupt", "playback", "ping", "image" };

        static T Server<T>(string stem) where T : Message => (T)Codec.DecodeServer(TestSupport.Fixture(stem));
        static T Client<T>(string stem) where T : Message => (T)Codec.DecodeClient(TestSupport.Fixture(stem));

        [Test]
        public void EveryFixtureReEncodesToTheSameBytes()
        {
            foreach (string stem in ServerFixtures)
                Assert.AreEqual(TestSupport.ToHex(TestSupport.Fixture(stem)), TestSupport.ToHex(Codec.Encode(Codec.DecodeServer(TestSupport.Fixture(stem)))), stem);
            foreach (string stem in ClientFixtures)
                Assert.AreEqual(TestSupport.ToHex(TestSupport.Fixture(stem)), TestSupport.ToHex(Codec.Encode(Codec.DecodeClient(TestSupport.Fixture(stem)))), stem);
        }

        [Test]
        public void ServerFixturesAreNotClientMessages()
        {
            foreach (string stem in ServerFixtures)
            {
                var e = Assert.Throws<UnknownTypeException>(() => Codec.DecodeClient(TestSupport.Fixture(stem)));
                StringAssert.Contains("travels the other way", e.Message);
            }
        }

        [Test]
        public void Welcome()
        {
            var m = Server<Welcome>("welcome");
            Assert.AreEqual(1, m.Protocol);
            Assert.AreEqual("s1", m.Session);
            Assert.AreEqual("talkbridge/0.1.0", m.Server);
            Assert.AreEqual(60, m.Fps);
            CollectionAssert.AreEqual(ChannelNames.Arkit52, m.Channels);
            Assert.AreEqual(48000, m.AudioRate);
            Assert.AreEqual("f16", m.Encoding);
        }

        [Test]
        public void Utterances()
        {
            var start = Server<Utterance>("utterance_start");
            Assert.AreEqual(new object[] { "u1", "start", "say", "Hello there! Nice to meet you.", null },
                            new object[] { start.Id, start.State, start.Source, start.Text, start.Reason });
            var end = Server<Utterance>("utterance_end");
            Assert.AreEqual(new object[] { "u1", "end", "say", null, "done" },
                            new object[] { end.Id, end.State, end.Source, end.Text, end.Reason });
        }

        [Test]
        public void Audio()
        {
            var m = Server<Audio>("audio");
            Assert.AreEqual("u1", m.Id);
            Assert.AreEqual(0, m.Seq);
            Assert.AreEqual(0.0, m.T);
            Assert.AreEqual(960, m.Data.Length);
            float[] pcm = Payloads.DecodePcm16(m.Data);
            CollectionAssert.AreEqual(new[] { 0, 943, 1883, 2817, 3741 }, new[] { Pcm(pcm[0]), Pcm(pcm[1]), Pcm(pcm[2]), Pcm(pcm[3]), Pcm(pcm[4]) });
            long sum = 0; int max = int.MinValue, min = int.MaxValue;
            foreach (float x in pcm) { int s = Pcm(x); sum += s; max = Math.Max(max, s); min = Math.Min(min, s); }
            Assert.AreEqual(new long[] { 509631, 16381, -16384 }, new long[] { sum, max, min });
            for (int i = 0; i < pcm.Length; i++) // 440 Hz at half scale, as bridge.protocol.fixtures writes it
                Assert.AreEqual(Math.Round(0.5 * Math.Sin(2 * Math.PI * 440 * i / 48000) * 32767), Pcm(pcm[i]), 1.0, "sample " + i);
        }

        static int Pcm(float x) => (int)Math.Round(x * 32768f);

        [Test]
        public void AudioInAndMic()
        {
            var a = Client<AudioIn>("audio_in");
            Assert.AreEqual(new object[] { "perf1", 16000, 320, false }, new object[] { a.Id, a.Rate, a.Data.Length, a.End });
            var mic = Client<Mic>("mic");
            Assert.AreEqual(16000, mic.Rate);
            CollectionAssert.AreEqual(a.Data, mic.Data);
            float[] pcm = Payloads.DecodePcm16(mic.Data);
            CollectionAssert.AreEqual(new[] { 0, 2817, 5550, 8117, 10443 }, new[] { Pcm(pcm[0]), Pcm(pcm[1]), Pcm(pcm[2]), Pcm(pcm[3]), Pcm(pcm[4]) });
        }

        /// <summary>bridge.protocol.fixtures.CURVE_WEIGHTS: the non-zero weights of the 3 frames.</summary>
        static readonly Dictionary<string, float[]> CurveWeights = new Dictionary<string, float[]>
        {
            { "eyeBlinkLeft", new[] { 0f, 0.5f, 1f } }, { "eyeBlinkRight", new[] { 0f, 0.5f, 1f } },
            { "jawOpen", new[] { 0.25f, 0.5f, 0.375f } }, { "mouthFunnel", new[] { 0f, 0.125f, 0.25f } },
            { "mouthSmileLeft", new[] { 0.0625f, 0.0625f, 0.0625f } }, { "mouthSmileRight", new[] { 0.0625f, 0.0625f, 0.0625f } },
            { "browInnerUp", new[] { 0.1875f, 0.125f, 0.0625f } },
        };

        public static float[] ExpectedFrames()
        {
            var frames = new float[3 * 52];
            foreach (var pair in CurveWeights)
                for (int k = 0; k < 3; k++) frames[k * 52 + Array.IndexOf(ChannelNames.Arkit52, pair.Key)] = pair.Value[k];
            return frames;
        }

        [TestCase("curves", "f16", 312)]
        [TestCase("curves_f32", "f32", 624)]
        public void Curves(string stem, string encoding, int bytes)
        {
            var m = Server<Curves>(stem);
            Assert.AreEqual(new object[] { "u1", 0, 0.0, 60, 3, bytes }, new object[] { m.Id, m.Seq, m.T, m.Fps, m.N, m.Data.Length });
            Assert.IsFalse(m.IsIdle);
            CollectionAssert.AreEqual(ExpectedFrames(), Payloads.DecodeCurves(m.Data, m.N, 52, encoding)); // exact: multiples of 1/16
        }

        [Test]
        public void SmallServerMessages()
        {
            Assert.AreEqual("u1", Server<Clear>("clear").Id);
            var t = Server<Transcript>("transcript");
            Assert.AreEqual(new object[] { "what's the weather like", true }, new object[] { t.Text, t.Final });
            var r = Server<Reply>("reply");
            Assert.AreEqual(new object[] { "d1", "Sunny all afternoon.", false }, new object[] { r.Id, r.Text, r.Final });
            var e = Server<ErrorMessage>("error");
            Assert.AreEqual(new object[] { "unknown_voice", "unknown voice 'nobody'; available: piper:en_US-joe-medium, espeak:en", false, "u2" },
                            new object[] { e.Code, e.Message, e.Fatal, e.Ref });
            var p = Server<Pong>("pong");
            Assert.AreEqual(new[] { 12.5, 3.25 }, new[] { p.T, p.ServerT });
        }

        [Test]
        public void Gesture()
        {
            var g = Server<Gesture>("gesture");
            Assert.AreEqual(new object[] { "u1", 0.25, "nod", 0.625, 0.75 }, new object[] { g.Id, g.T, g.Name, g.Duration, g.Strength });
        }

        [Test]
        public void ClientFixturesDecode()
        {
            var h = Client<Hello>("hello");
            Assert.AreEqual(new object[] { 1L, "talkbridge-unreal/0.1", "s3cret", 60, 48000, "f16" },
                            new object[] { h.Protocol, h.Client, h.Token, h.Fps, h.AudioRate, h.Encoding });
            CollectionAssert.AreEqual(new[] { "arkit52" }, h.Channels);
            var s = Client<Say>("say");
            Assert.AreEqual(new object[] { "Hello there! Nice to meet you.", "u1", "piper:en_US-joe-medium", "en", null },
                            new object[] { s.Text, s.Id, s.Voice, s.Lang, s.Emotion });
            Assert.AreEqual(1, s.EmotionBlend.Count);
            Assert.AreEqual(0.75, s.EmotionBlend["happy"]);
            Assert.AreEqual("What's the weather like?", Client<Chat>("chat").Text);
            Assert.AreEqual("u1", Client<Interrupt>("interrupt").Id);
            var pb = Client<Playback>("playback");
            Assert.AreEqual(new object[] { "u1", "finished", 1.5, false }, new object[] { pb.Id, pb.State, pb.Position, pb.Interrupted });
            Assert.AreEqual(12.5, Client<Ping>("ping").T);
            var image = Client<ImageMessage>("image");
            Assert.AreEqual(new object[] { 82, "image/png", 3.5, "What am I holding?" },
                            new object[] { image.Data.Length, ImageMessage.MediaTypeOf(image.Data), image.T, image.Prompt });
        }

        [Test]
        public void ImageEncodesToTheGoldenBytesAndLeavesOptionalFieldsOff()
        {
            byte[] png = Client<ImageMessage>("image").Data;
            CollectionAssert.AreEqual(TestSupport.Fixture("image"),
                Codec.Encode(new ImageMessage { Data = png, T = 3.5, Prompt = "What am I holding?" }));
            var bare = (ImageMessage)Codec.DecodeClient(Codec.Encode(new ImageMessage { Data = png }));
            Assert.AreEqual(new object[] { null, null }, new object[] { bare.T, bare.Prompt });
            Assert.AreEqual(2, ((MsgPackMap)MsgPackReader.Unpack(Codec.Encode(new ImageMessage { Data = png }))).Count);  // type, data
        }

        [Test]
        public void ImageDataMustBeAJpegOrPng()
        {
            Assert.AreEqual("image/jpeg", ImageMessage.MediaTypeOf(new byte[] { 0xFF, 0xD8, 0xFF, 0xE0 }));
            foreach (var data in new[] { new byte[0], System.Text.Encoding.ASCII.GetBytes("GIF89a"), new byte[] { 0x89, 0x50, 0x4E } })
            {
                var e = Assert.Throws<InvalidFieldException>(() => Codec.DecodeClient(Codec.Encode(new ImageMessage { Data = data })));
                Assert.AreEqual("data", e.Field);
                StringAssert.StartsWith("image.data: ", e.Message);
            }
        }

        [Test]
        public void ClientMessagesEncodeToTheGoldenBytes()
        {
            var hello = new Hello { Client = "talkbridge-unreal/0.1", Token = "s3cret" };
            CollectionAssert.AreEqual(TestSupport.Fixture("hello"), Codec.Encode(hello));
            var say = new Say { Text = "Hello there! Nice to meet you.", Id = "u1", Voice = "piper:en_US-joe-medium", Lang = "en",
                                EmotionBlend = new Dictionary<string, double> { { "happy", 0.75 } } };
            CollectionAssert.AreEqual(TestSupport.Fixture("say"), Codec.Encode(say));
            CollectionAssert.AreEqual(TestSupport.Fixture("chat"), Codec.Encode(new Chat { Text = "What's the weather like?" }));
            CollectionAssert.AreEqual(TestSupport.Fixture("interrupt"), Codec.Encode(new Interrupt { Id = "u1" }));
            CollectionAssert.AreEqual(TestSupport.Fixture("ping"), Codec.Encode(new Ping { T = 12.5 }));
            CollectionAssert.AreEqual(TestSupport.Fixture("playback"),
                Codec.Encode(new Playback { Id = "u1", State = PlaybackState.Finished, Position = 1.5, Interrupted = false }));
            var sine = Client<Mic>("mic").Data;
            CollectionAssert.AreEqual(TestSupport.Fixture("mic"), Codec.Encode(new Mic { Rate = 16000, Data = sine }));
            CollectionAssert.AreEqual(TestSupport.Fixture("audio_in"), Codec.Encode(new AudioIn { Id = "perf1", Rate = 16000, Data = sine }));
        }
    }

    [TestFixture]
    public class EncodeTests
    {
        // Expected bytes written by bridge.protocol.codec.encode.
        [Test]
        public void Bytes()
        {
            Assert.AreEqual("82a474797065a9696e74657272757074a26964a27531", TestSupport.ToHex(Codec.Encode(new Interrupt { Id = "u1" })));
            Assert.AreEqual("81a474797065a9696e74657272757074", TestSupport.ToHex(Codec.Encode(new Interrupt())));
            Assert.AreEqual("82a474797065a470696e67a174cb4029000000000000", TestSupport.ToHex(Codec.Encode(new Ping { T = 12.5 })));
            Assert.AreEqual("82a474797065a463686174a474657874a26869", TestSupport.ToHex(Codec.Encode(new Chat { Text = "hi" })));
            Assert.AreEqual("84a474797065a8706c61796261636ba26964a27531a57374617465a8706f736974696f6ea8706f736974696f6ecb3fd0000000000000",
                TestSupport.ToHex(Codec.Encode(new Playback { Id = "u1", State = PlaybackState.Position, Position = 0.25 })));
            Assert.AreEqual("83a474797065a36d6963a472617465cd3e80a464617461c4040100ff7f",
                TestSupport.ToHex(Codec.Encode(new Mic { Rate = 16000, Data = new byte[] { 1, 0, 0xff, 0x7f } })));
            Assert.AreEqual("87a474797065a568656c6c6fa870726f746f636f6c01a6636c69656e74a178a36670733ca86368616e6e656c7391a761726b69743532aa617564696f5f72617465cdbb80a8656e636f64696e67a3663136",
                TestSupport.ToHex(Codec.Encode(new Hello { Client = "x" })));
            Assert.AreEqual("83a474797065a3736179a474657874a26869a7656d6f74696f6ea56861707079",
                TestSupport.ToHex(Codec.Encode(new Say { Text = "hi", Emotion = "happy" })));
        }

        [Test]
        public void IntegerAndStringFormatsMatchMsgpackPython()
        {
            var w = new MsgPackWriter();
            foreach (long v in new long[] { 0, 127, 128, 255, 256, 65535, 65536, 4294967295L, 4294967296L, -1, -32, -33, -128, -129, -32768, -32769, -2147483648L, -2147483649L })
                w.WriteInt(v);
            Assert.AreEqual("007fcc80ccffcd0100cdffffce00010000ceffffffffcf0000000100000000ffe0d0dfd080d1ff7fd18000d2ffff7fffd280000000d3ffffffff7fffffff",
                            TestSupport.ToHex(w.ToArray()));
            var s = new MsgPackWriter();
            s.WriteString(new string('a', 31)); s.WriteString(new string('a', 32)); s.WriteBin(new byte[0]);
            StringAssert.StartsWith("bf", TestSupport.ToHex(s.ToArray()));
            StringAssert.Contains("d920", TestSupport.ToHex(s.ToArray()));
            StringAssert.EndsWith("c400", TestSupport.ToHex(s.ToArray()));
        }

        [Test]
        public void HalfFloatsRoundTripLikeNumpy()
        {
            Assert.AreEqual(0x3c00, Payloads.FloatToHalf(1f));
            Assert.AreEqual(0x3555, Payloads.FloatToHalf(1f / 3));
            Assert.AreEqual(0x0001, Payloads.FloatToHalf(5.96046448e-8f));
            Assert.AreEqual(0x7c00, Payloads.FloatToHalf(70000f));
            Assert.AreEqual(0xc000, Payloads.FloatToHalf(-2f));
            for (int h = 0; h < 0x7c00; h++) Assert.AreEqual(h, Payloads.FloatToHalf(Payloads.HalfToFloat((ushort)h)), "half " + h);
            Assert.AreEqual(65504f, Payloads.HalfToFloat(0x7bff));
        }
    }

    [TestFixture]
    public class DecodeErrorTests
    {
        static ProtocolException Fails(string hex) => Assert.Catch<ProtocolException>(() => Codec.DecodeServer(TestSupport.Hex(hex)));

        [Test]
        public void TypedErrorsWithTheServersCodes()
        {
            Assert.AreEqual("malformed", Fails("").Code);                       // nothing
            Assert.AreEqual("malformed", Fails("93010203").Code);               // an array
            StringAssert.Contains("trailing", Fails("82a474797065a5636c656172a26964a2753100").Message);
            Assert.AreEqual("malformed", Fails("82a474797065a5636c656172a474797065a5636c656172").Code); // repeated key
            Assert.AreEqual("malformed", Fails("8101a5636c656172").Code);       // int key
            Assert.AreEqual("malformed", Fails("81a474797065a2c328").Code);     // bad UTF-8
            Assert.AreEqual("malformed", Fails("81a474797065d40000").Code);     // ext type
            Assert.AreEqual("missing_type", Fails("81a26964a27531").Code);
            Assert.AreEqual("invalid_field", Fails("81a47479706501").Code);
            Assert.AreEqual("unknown_type", Fails("81a474797065a3666f6f").Code);
            var e = (InvalidFieldException)Fails("81a474797065a5636c656172");  // clear without id
            Assert.AreEqual(new[] { "id", "clear.id is required" }, new[] { e.Field, e.Message });
            Assert.AreEqual("message_too_large", Assert.Catch<ProtocolException>(() => Codec.DecodeServer(new byte[Codec.MaxMessageBytes + 1])).Code);
        }

        /// <summary>A map with arbitrary fields, for feeding the decoder what the server never sends.</summary>
        static byte[] Raw(string type, params object[] pairs)
        {
            var w = new MsgPackWriter();
            w.WriteMapHeader(pairs.Length / 2 + 1);
            w.WriteString("type");
            w.WriteString(type);
            for (int i = 0; i < pairs.Length; i += 2) { w.WriteString((string)pairs[i]); w.WriteValue(pairs[i + 1]); }
            return w.ToArray();
        }

        static byte[] Audio(object t, object seq) => Raw("audio", "id", "u1", "seq", seq, "t", t, "data", new byte[2]);

        [Test]
        public void AGesturesStrengthIsAWeight()
        {
            var e = Assert.Catch<InvalidFieldException>(() => Codec.DecodeServer(
                Raw("gesture", "id", "u1", "t", 0.5, "name", "nod", "duration", 0.6, "strength", 1.5)));
            Assert.AreEqual(new[] { "strength", "gesture.strength: must be 0.0..1.0, got 1.5" }, new[] { e.Field, e.Message });
            var g = (Gesture)Codec.DecodeServer(Raw("gesture", "id", "u1", "t", 0L, "name", "nod", "duration", 1L, "strength", 1L));
            Assert.AreEqual(new[] { 0.0, 1.0, 1.0 }, new[] { g.T, g.Duration, g.Strength });
        }

        [Test]
        public void ATypeNewerThanThePackageIsSkippedButAClientMessageIsStillAFault()
        {
            Message m;
            Assert.IsFalse(Codec.TryDecodeServer(Raw("wink", "id", "u1"), out m));
            Assert.IsNull(m);
            Assert.IsTrue(Codec.TryDecodeServer(TestSupport.Fixture("gesture"), out m));
            Assert.IsInstanceOf<Gesture>(m);
            var e = Assert.Catch<UnknownTypeException>(() => Codec.TryDecodeServer(TestSupport.Fixture("hello"), out m));
            Assert.IsTrue(e.OtherSide);
            Assert.AreEqual("malformed", Assert.Catch<ProtocolException>(() => Codec.TryDecodeServer(new byte[] { 0x93 }, out m)).Code);
        }

        [Test]
        public void FieldRulesMatchThePythonSchemas()
        {
            Assert.AreEqual(0.0, ((Audio)Codec.DecodeServer(Audio(0L, 0))).T);          // an int where a float goes is fine
            Assert.AreEqual("t", Field(() => Codec.DecodeServer(Audio(-0.5, 0))));       // times are >= 0
            Assert.AreEqual("t", Field(() => Codec.DecodeServer(Audio(double.NaN, 0))));
            Assert.AreEqual("seq", Field(() => Codec.DecodeServer(Audio(0.0, 1.0))));    // a float where an int goes is not
            Assert.AreEqual("seq", Field(() => Codec.DecodeServer(Audio(0.0, true))));
            Assert.AreEqual("seq", Field(() => Codec.DecodeServer(Audio(0.0, -1))));
            Assert.AreEqual("seq", Field(() => Codec.DecodeServer(Audio(0.0, 1L << 31))));
            var extra = Raw("clear", "id", "u1", "future", "ignored");
            Assert.AreEqual("u1", ((Clear)Codec.DecodeServer(extra)).Id);                // unknown keys are ignored
            var nilRef = Raw("error", "code", "x", "message", "y", "fatal", true, "ref", null);
            Assert.IsNull(((ErrorMessage)Codec.DecodeServer(nilRef)).Ref);              // nil counts as absent
            var badFps = Raw("curves", "id", "u1", "seq", 0, "t", 0.0, "fps", 241, "n", 0, "data", new byte[0]);
            Assert.AreEqual("fps", Field(() => Codec.DecodeServer(badFps)));
            var badState = Raw("utterance", "id", "u1", "state", "middle", "source", "say");
            Assert.AreEqual("state", Field(() => Codec.DecodeServer(badState)));
        }

        static string Field(TestDelegate code) => Assert.Throws<InvalidFieldException>(code).Field;

        [Test]
        public void PayloadSizeMismatchesAreInvalidFields()
        {
            Assert.AreEqual("data", Field(() => Payloads.DecodePcm16(new byte[3])));
            Assert.AreEqual("data", Field(() => Payloads.DecodeCurves(new byte[10], 3, 52, "f16")));
            Assert.AreEqual("encoding", Field(() => Payloads.DecodeCurves(new byte[0], 0, 52, "f64")));
        }

        [Test]
        public void RandomBytesOnlyEverThrowProtocolException()
        {
            var random = new Random(1234);
            var seeds = new List<byte[]>();
            foreach (string stem in new[] { "welcome", "utterance_start", "audio", "curves", "error", "pong", "say", "hello" })
                seeds.Add(TestSupport.Fixture(stem));
            int decoded = 0;
            for (int i = 0; i < 30000; i++)
            {
                byte[] data = Mutate(seeds[i % seeds.Count], random, i);
                try { Codec.DecodeServer(data); decoded++; }
                catch (ProtocolException) { }
                catch (Exception e) { Assert.Fail("input " + i + " (" + TestSupport.ToHex(data) + ") threw " + e); }
            }
            Assert.Greater(decoded, 100, "mutations should sometimes still decode");
        }

        [Test]
        public void EveryTruncationThrowsMalformed()
        {
            foreach (string stem in new[] { "welcome", "audio", "curves", "error", "utterance_start" })
            {
                byte[] data = TestSupport.Fixture(stem);
                for (int n = 0; n < data.Length; n++)
                {
                    var cut = new byte[n];
                    Array.Copy(data, cut, n);
                    Assert.Throws<MalformedMessageException>(() => Codec.DecodeServer(cut), stem + " cut at " + n);
                }
            }
        }

        static byte[] Mutate(byte[] seed, Random random, int i)
        {
            switch (i % 4)
            {
                case 0: // pure noise, short
                    var noise = new byte[random.Next(0, 64)];
                    random.NextBytes(noise);
                    return noise;
                case 1: // flip a few bytes
                    var flipped = (byte[])seed.Clone();
                    for (int k = random.Next(1, 4); k > 0; k--) flipped[random.Next(flipped.Length)] = (byte)random.Next(256);
                    return flipped;
                case 2: // truncate
                    var cut = new byte[random.Next(seed.Length)];
                    Array.Copy(seed, cut, cut.Length);
                    return cut;
                default: // a header byte that claims a huge length
                    var big = (byte[])seed.Clone();
                    int at = random.Next(big.Length);
                    big[at] = (byte)(0xc4 + random.Next(0x1c));
                    return big;
            }
        }

        [Test]
        public void OnlyWhatTheUserAskedForWaitsForTheWelcome()
        {
            Assert.IsTrue(Message.KeepsUntilWelcome(new Say { Text = "Hello." }));
            Assert.IsTrue(Message.KeepsUntilWelcome(new Chat { Text = "Who are you?" }));
            Assert.IsFalse(Message.KeepsUntilWelcome(new Interrupt()));
            Assert.IsFalse(Message.KeepsUntilWelcome(new Playback { Id = "u1", State = "finished" }));
            Assert.IsFalse(Message.KeepsUntilWelcome(new Ping { T = 1.0 }));
            Assert.IsFalse(Message.KeepsUntilWelcome(new Mic { Rate = 16000, Data = new byte[2] }));
        }
    }
}
