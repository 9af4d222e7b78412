using System;
using System.Collections.Generic;
using NUnit.Framework;
using TalkBridge.Core;

namespace TalkBridge.Tests
{
    /// <summary>Playout on a virtual audio clock: the tests say which ring sample is being heard.</summary>
    [TestFixture]
    public class PlayoutTests
    {
        const int ServerRate = 48000, Fps = 60;
        static readonly string[] Columns = { "jawOpen", "eyeBlinkLeft" };

        static Playout Make(int outputRate, double blend = 0)
        {
            var p = new Playout(outputRate, new PlayoutOptions { BlendTime = blend, Prebuffer = 0.1, ReportInterval = 0.25 });
            p.Handle(new Welcome { Protocol = 1, Session = "s", Server = "t", Fps = Fps, Channels = Columns, AudioRate = ServerRate, Encoding = "f16" });
            return p;
        }

        /// <summary>Frame k of utterance "id": jawOpen = k/64, eyeBlinkLeft = 1 - k/64 (exact in float16).</summary>
        static float[] FrameOf(int k) => new[] { k / 64f, 1 - k / 64f };

        /// <summary>Sends an utterance as the server does: audio + curves per 50 ms span (3 frames), then end.</summary>
        static void Stream(Playout p, string id, int spans, bool end = true, int skipSpan = -1, float level = 0.25f)
        {
            p.Handle(new Utterance { Id = id, State = "start", Source = "say" });
            for (int s = 0; s < spans; s++)
            {
                var frames = new List<float>();
                for (int k = 3 * s; k < 3 * s + 3; k++) frames.AddRange(FrameOf(k));
                if (s != skipSpan)
                    p.Handle(new Audio { Id = id, Seq = s, T = s * 0.05, Data = Payloads.EncodePcm16(Constant(2400, level)) });
                p.Handle(new Curves { Id = id, Seq = s, T = s * 0.05, Fps = Fps, N = 3, Data = Payloads.EncodeCurves(frames.ToArray(), "f16") });
            }
            if (end) p.Handle(new Utterance { Id = id, State = "end", Source = "say", Reason = "done" });
        }

        static float[] Constant(int n, float value)
        {
            var x = new float[n];
            for (int i = 0; i < n; i++) x[i] = value;
            return x;
        }

        static List<Playback> Reports(Playout p)
        {
            var list = new List<Playback>();
            Playback r;
            while (p.TryTakeReport(out r)) list.Add(r);
            return list;
        }

        [TestCase(48000)]
        [TestCase(44100)]
        public void TheFaceIsSampledAtTheAudioPlaybackPosition(int outputRate)
        {
            Playout p = Make(outputRate);
            Stream(p, "u1", 10);
            p.Pump();
            Assert.AreEqual(0, p.Ring.ReadIndex);
            Assert.AreEqual(outputRate / 2, p.Ring.WriteIndex, "0.5 s of audio at the output rate");
            var pose = new float[2];
            double samplesPerFrame = outputRate / (double)Fps;
            for (int k = 0; k < 30; k++)
            {
                p.Sample((long)Math.Round(k * samplesPerFrame), 1.0 / Fps, pose);
                Assert.AreEqual("u1", p.PlayingId);
                CollectionAssert.AreEqual(FrameOf(k), pose, "frame " + k);
            }
            p.Sample((long)Math.Round(10.5 * samplesPerFrame), 0.01, pose);  // halfway between frames 10 and 11
            Assert.AreEqual(10.5f / 64, pose[0], 1e-4);
            p.Sample(outputRate / 2 - 1, 0.01, pose);                          // after the last frame: held
            CollectionAssert.AreEqual(FrameOf(29), pose);
            p.Sample(outputRate / 2, 0.01, pose);                              // the audio ended
            Assert.IsNull(p.PlayingId);
        }

        [Test]
        public void PlaybackIsReportedStartedPositionFinished()
        {
            Playout p = Make(48000);
            Stream(p, "u1", 10);
            p.Pump();
            var pose = new float[2];
            for (long played = 0; played <= 24000; played += 800) p.Sample(played, 1.0 / 60, pose);
            var reports = Reports(p);
            CollectionAssert.AreEqual(new[] { "started", "position", "finished" }, reports.ConvertAll(r => r.State));
            Assert.AreEqual(0.25, reports[1].Position, 1.0 / 60);
            Assert.AreEqual(0.5, reports[2].Position, 1e-9);
            Assert.AreEqual(false, reports[2].Interrupted);
        }

        static List<Gesture> Gestures(Playout p)
        {
            var list = new List<Gesture>();
            Gesture g;
            while (p.TryTakeGesture(out g)) list.Add(g);
            return list;
        }

        [Test]
        public void AGestureComesOutWhenTheAudioBeingHeardReachesIt()
        {
            Playout p = Make(44100);
            Stream(p, "u1", 10);
            p.Handle(new Gesture { Id = "u1", T = 0.3, Name = "tilt", Duration = 0.5, Strength = 0.5 });
            p.Handle(new Gesture { Id = "u1", T = 0.1, Name = "nod", Duration = 0.6, Strength = 0.75 });  // by T, not arrival
            p.Handle(new Gesture { Id = "u1", T = 0.6, Name = "shrug", Duration = 0.5, Strength = 0.5 }); // past the audio's end
            p.Handle(new Gesture { Id = "nobody", T = 0, Name = "nod", Duration = 0.6, Strength = 1 });
            p.Pump();
            var pose = new float[2];
            p.Sample(4410 - 1, 0.01, pose);
            CollectionAssert.IsEmpty(Gestures(p), "0.1 s is not reached yet");
            p.Sample(4410, 0.01, pose);
            var due = Gestures(p);
            Assert.AreEqual(1, due.Count);
            Assert.AreEqual(new object[] { "u1", "nod", 0.75, 0.6 }, new object[] { due[0].Id, due[0].Name, due[0].Strength, due[0].Duration });
            p.Sample(22050, 0.01, pose);  // the end: what is before it fires, the rest never
            CollectionAssert.AreEqual(new[] { "tilt" }, Gestures(p).ConvertAll(g => g.Name));
            p.Sample(30000, 0.01, pose);
            CollectionAssert.IsEmpty(Gestures(p));
        }

        [Test]
        public void GesturesOfADroppedUtteranceNeverComeOut()
        {
            Playout p = Make(48000);
            Stream(p, "u1", 10, end: false);
            p.Handle(new Gesture { Id = "u1", T = 0.2, Name = "nod", Duration = 0.6, Strength = 0.75 });
            p.Handle(new Gesture { Id = "u1", T = 0.0, Name = "beat", Duration = 0.3, Strength = 0.5 });
            p.Pump();
            var pose = new float[2];
            p.Sample(10, 0.01, pose);        // the beat is due, not yet taken
            p.Handle(new Clear { Id = "u1" });
            p.Sample(24000, 0.01, pose);
            CollectionAssert.IsEmpty(Gestures(p));
        }

        [Test]
        public void NothingPlaysBeforeThePrebufferIsFull()
        {
            Playout p = Make(48000);
            Stream(p, "u1", 1, end: false);
            p.Pump();
            Assert.AreEqual(0, p.Ring.WriteIndex, "50 ms < 100 ms prebuffer");
            Stream(p, "u1", 2, end: false);
            p.Pump();
            Assert.AreEqual(4800, p.Ring.WriteIndex);
        }

        [Test]
        public void ClearIsHonouredAtOnce()
        {
            Playout p = Make(48000, blend: 0);
            Stream(p, "u1", 10, end: false);
            p.Pump();
            var block = new float[4800];
            Assert.AreEqual(4800, p.Ring.Read(block, 0, block.Length));
            var pose = new float[2];
            p.Sample(p.Ring.ReadIndex, 0.01, pose);
            CollectionAssert.AreEqual(FrameOf(6), pose);
            Reports(p);

            p.Handle(new Clear { Id = "u1" });
            p.Sample(p.Ring.ReadIndex, 0.01, pose);
            Assert.IsNull(p.PlayingId);
            CollectionAssert.AreEqual(new float[2], pose, "no frame of u1 after its clear (idle is zero here)");
            Assert.AreEqual(0, p.Ring.Read(block, 0, block.Length), "its buffered audio never plays");
            var finished = Reports(p)[0];
            Assert.AreEqual(new object[] { "u1", "finished", 0.1, true }, new object[] { finished.Id, finished.State, finished.Position, finished.Interrupted });

            Stream(p, "u1", 2);  // anything after the clear for the same id is a new utterance
            Stream(p, "u2", 4);
            p.Pump();
            Assert.Greater(p.Ring.Read(block, 0, block.Length), 0);
        }

        [Test]
        public void AClearOfThePlayingUtteranceWithTheNextBufferedStartsTheNextOnItsOwnClock()
        {
            // Unreal's flush-then-queue case, in the C# core: "a" plays, "b" waits in the ring
            // behind it, a clear of "a" comes; "b" starts where the audio being heard now is,
            // and its face runs on b's clock from there, neither ahead nor behind.
            Playout p = Make(48000, blend: 0);
            Stream(p, "a", 4);
            Stream(p, "b", 4);
            p.Pump();
            var block = new float[2400];
            Assert.AreEqual(2400, p.Ring.Read(block, 0, block.Length));  // 50 ms of "a" heard
            var pose = new float[2];
            p.Sample(p.Ring.ReadIndex, 0.01, pose);
            Assert.AreEqual("a", p.PlayingId);

            p.Handle(new Clear { Id = "a" });  // and, in the same tick, the next pump
            p.Pump();
            var heard = new float[800 * 5];   // the audio thread's next pulls: b from its start
            Assert.AreEqual(heard.Length, p.Ring.Read(heard, 0, heard.Length));
            Assert.AreEqual(9600 + 800 * 5, p.Ring.ReadIndex, "a's unplayed 150 ms were skipped");
            p.Sample(p.Ring.ReadIndex, 0.01, pose);
            Assert.AreEqual("b", p.PlayingId);
            Assert.AreEqual(5.0 / 60, p.PlayingPosition, 1e-12);
            CollectionAssert.AreEqual(FrameOf(5), pose);
            var rest = new float[48000];
            Assert.AreEqual(9600 - heard.Length, p.Ring.Read(rest, 0, rest.Length), "the rest of b, none of a");
        }

        [Test]
        public void AClearThenTheNextThroughTheAudioClockAt1024SamplePullsStaysWithinTwoMilliseconds()
        {
            // C++ PullClock.FlushThenQueueInOneTickStaysExact, the Unity way: the audio thread
            // pulls 1024 samples at 48 kHz from the ring the core owns and stamps the AudioClock;
            // the game ticks every millisecond. A clear of "a" at 50 ms is a skip the reader
            // applies at its next pull, so there is no engine counter to go stale: "b" is heard
            // from that pull, and its face follows within 2 ms, never "a" again, never ahead.
            const int rate = 48000, block = 1024;
            const long tps = 1000000;
            Playout p = Make(rate, blend: 0);
            Stream(p, "a", 4);
            Stream(p, "b", 20);
            p.Pump();
            var clock = new AudioClock();
            var pulled = new float[block];
            var pose = new float[2];
            long pulls = 0;
            double bHeardFrom = -1, worst = 0;
            bool cleared = false, bPlayed = false;
            for (long us = 0; us < 600000; us += 1000)
            {
                while (pulls * block * tps <= us * rate)  // the mixer pulls at k * 1024 / 48000 s
                {
                    long pullTicks = pulls * block * tps / rate;
                    p.Ring.Read(pulled, 0, block);
                    clock.Stamp(p.Ring.ReadIndex, pullTicks);
                    if (cleared && bHeardFrom < 0) bHeardFrom = (double)pullTicks / tps;
                    pulls++;
                }
                if (!cleared && us >= 50000)
                {
                    p.Handle(new Clear { Id = "a" });  // and, in the same tick, the next pump
                    p.Pump();
                    cleared = true;
                }
                p.Pump();
                p.Sample(clock.Estimate(us, tps, rate, block), 0.001, pose);
                if (!cleared) continue;
                Assert.AreNotEqual("a", p.PlayingId);
                if (p.PlayingId != "b") continue;
                double t = (double)us / tps;
                Assert.GreaterOrEqual(bHeardFrom, 0, "b's face before any of b was pulled");
                worst = Math.Max(worst, Math.Abs(p.PlayingPosition - (t - bHeardFrom)));
                bPlayed = true;
            }
            Assert.IsTrue(bPlayed);
            Assert.Less(worst, 0.002);
        }

        [Test]
        public void UtterancesPlayBackToBackEachOnItsOwnClock()
        {
            Playout p = Make(48000);
            Stream(p, "a", 4);
            Stream(p, "b", 4);
            p.Pump();
            Assert.AreEqual(2 * 9600, p.Ring.WriteIndex);
            var pose = new float[2];
            p.Sample(9600 - 1, 0.01, pose);
            Assert.AreEqual("a", p.PlayingId);
            p.Sample(9600 + 800 * 5, 0.01, pose);
            Assert.AreEqual("b", p.PlayingId);
            Assert.AreEqual(5.0 / 60, p.PlayingPosition, 1e-12);
            CollectionAssert.AreEqual(FrameOf(5), pose);
        }

        [Test]
        public void AMissingChunkBecomesSilenceWithoutShiftingTheClock()
        {
            Playout p = Make(48000);
            Stream(p, "u1", 6, end: false, skipSpan: 2);  // 100..150 ms missing
            p.Pump();
            Assert.AreEqual(4800, p.Ring.WriteIndex, "stops at the gap while enough is queued");
            var block = new float[4800 - 1000];
            p.Ring.Read(block, 0, block.Length);         // the consumer is about to starve
            p.Pump();
            Assert.AreEqual(6 * 2400, p.Ring.WriteIndex);
            var rest = new float[6 * 2400];
            int n = p.Ring.Read(rest, 0, rest.Length);
            Assert.AreEqual(1000 + 2400 + 3 * 2400, n);
            Assert.AreEqual(0.25f, rest[999], 1e-4);        // end of the second span
            Assert.AreEqual(0f, rest[1000]);                // the gap, as silence
            Assert.AreEqual(0.25f, rest[1000 + 2400], 1e-4, "the span after the gap starts at its own time");
        }

        [Test]
        public void IdleFramesShowBetweenUtterancesAndBlendInAndOut()
        {
            Playout p = Make(48000, blend: 0.1);
            var idle = new[] { 0.5f, 0.25f };
            p.Handle(new Curves { Id = "idle", Seq = 0, T = 3.0, Fps = Fps, N = 1, Data = Payloads.EncodeCurves(idle, "f16") });
            var pose = new float[2];
            p.Sample(0, 0.02, pose);
            CollectionAssert.AreEqual(idle, pose, "nothing plays: idle");
            Stream(p, "u1", 10);
            p.Pump();
            p.Sample(0, 0.05, pose);                       // half way into the blend, frame 0 = (0, 1)
            Assert.AreEqual(0.5, p.SpeechWeight, 1e-9);
            Assert.AreEqual(0.25f, pose[0], 1e-6);
            Assert.AreEqual(0.625f, pose[1], 1e-6);
            p.Sample(800, 0.05, pose);
            CollectionAssert.AreEqual(FrameOf(1), pose, "fully speech");
            p.Sample(24000, 0.05, pose);                   // speech over: blending back to idle
            Assert.AreEqual(0.5, p.SpeechWeight, 1e-9);
            p.Sample(24000, 0.05, pose);
            CollectionAssert.AreEqual(idle, pose);
        }

        [Test]
        public void CurveTrackInterpolatesOverHolesAndHoldsAtTheEnds()
        {
            var track = new CurveTrack(1, 60);
            track.Add(4 / 60.0, 60, 1, new[] { 0.8f });     // reordered: frame 4 first
            track.Add(0.0, 60, 1, new[] { 0.0f });          // frames 1..3 missing
            var v = new float[1];
            Assert.IsTrue(track.Sample(2 / 60.0, v));
            Assert.AreEqual(0.4f, v[0], 1e-6);
            track.Sample(-1, v); Assert.AreEqual(0f, v[0]);
            track.Sample(10, v); Assert.AreEqual(0.8f, v[0]);
            Assert.IsFalse(new CurveTrack(1, 60).Sample(0, v));
            track.Add(1e9, 60, 1, new[] { 1f });
            Assert.AreEqual(1, track.DroppedFrames, "a bogus time allocates nothing");
        }

        [Test]
        public void AWrongCurvePayloadSizeIsAProtocolError()
        {
            Playout p = Make(48000);
            Assert.Throws<InvalidFieldException>(() =>
                p.Handle(new Curves { Id = "u1", Seq = 0, T = 0, Fps = 60, N = 3, Data = new byte[10] }));
        }
    }

    [TestFixture]
    public class ChannelNameTests
    {
        [TestCase("jawOpen", "jawopen")]
        [TestCase("JawOpen", "jawopen")]
        [TestCase("blendShape1.jawOpen", "jawopen")]
        [TestCase("Wolf3D_Head.mouthSmileLeft", "mouthsmileleft")]
        [TestCase("ARKit_eyeBlinkLeft", "eyeblinkleft")]
        [TestCase("BS_eye_blink_L", "eyeblinkleft")]
        [TestCase("eyeBlink_R", "eyeblinkright")]
        [TestCase("browDownLeft", "browdownleft")]
        public void NamesNormalize(string name, string normalized) => Assert.AreEqual(normalized, ChannelNames.Normalize(name));

        [Test]
        public void MatchingPrefersExactNamesThenLooseOnes()
        {
            var shapes = new[] { "blendShape1.JawOpen", "jawOpen", "EyeBlink_L", "viseme_I", "Fcl_MTH_A" };
            CollectionAssert.AreEqual(new[] { 1, 2, -1 }, ChannelNames.Match(new[] { "jawOpen", "eyeBlinkLeft", "tongueOut" }, shapes));
            CollectionAssert.AreEqual(new[] { 3, -1 }, ChannelNames.Match(new[] { "viseme_ih", "viseme_aa" }, shapes, ChannelNames.ReadyPlayerMeVisemes));
            CollectionAssert.AreEqual(new[] { 4 }, ChannelNames.Match(new[] { "viseme_aa" }, shapes, ChannelNames.VrmVisemes));
        }

        [Test]
        public void EveryArkitNameFindsItselfInAnyCommonSpelling()
        {
            var pascal = Array.ConvertAll(ChannelNames.Arkit52, n => "blendShape2." + char.ToUpperInvariant(n[0]) + n.Substring(1));
            int[] match = ChannelNames.Match(ChannelNames.Arkit52, pascal);
            for (int i = 0; i < match.Length; i++) Assert.AreEqual(i, match[i], ChannelNames.Arkit52[i]);
        }

        [Test]
        public void BackoffDoublesUpToTheMaxWithJitterAndResets()
        {
            var b = new Backoff(0.5, 4, 0.2, new Random(1));
            var delays = new List<double>();
            for (int i = 0; i < 6; i++) delays.Add(b.Next());
            double[] nominal = { 0.5, 1, 2, 4, 4, 4 };
            for (int i = 0; i < 6; i++) Assert.AreEqual(nominal[i], delays[i], nominal[i] * 0.2 + 1e-9);
            b.Reset();
            Assert.AreEqual(0.5, b.Next(), 0.1);
        }

        [Test]  // the C++ core's Backoff.ClientsCutOffTogetherDoNotRetryInStep
        public void BackoffClientsCutOffTogetherDoNotRetryInStep()
        {
            var a = new Backoff(0.5, 10, 0.2, new Random(1));
            var b = new Backoff(0.5, 10, 0.2, new Random(2));
            int differ = 0;
            for (int i = 0; i < 5; i++) if (a.Next() != b.Next()) differ++;
            Assert.AreEqual(5, differ);
        }

        [Test]  // the C++ core's Backoff.NeverWaitsLongerThanTheMax
        public void BackoffNeverWaitsLongerThanTheMax()
        {
            var b = new Backoff(0.5, 3, 0.5, new Random(7));
            for (int i = 0; i < 20; i++) Assert.LessOrEqual(b.Next(), 3.0);
        }
    }
}
