// A client built from Core + System.Net.WebSockets.ClientWebSocket against a real
// `talkbridge serve` at $TALKBRIDGE_URL. Without the variable the tests are ignored (in a
// Unity project) or fail (when CI is set); with it, anything the server does wrong fails.
using System;
using System.Collections.Generic;
using System.IO;
using System.Net.WebSockets;
using System.Threading;
using NUnit.Framework;
using TalkBridge.Core;

namespace TalkBridge.Tests
{
    [TestFixture]
    public class LiveServerTests
    {
        const int OutputRate = 44100; // not the server's 48000: the resampler is part of the path under test
        static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

        sealed class Connection : IDisposable
        {
            readonly ClientWebSocket socket = new ClientWebSocket();
            readonly CancellationTokenSource timeout = new CancellationTokenSource(Patience);

            public Connection(string url) { socket.ConnectAsync(new Uri(url), timeout.Token).Wait(); }

            public void Send(Message message)
            {
                byte[] bytes = Codec.Encode(message);
                socket.SendAsync(new ArraySegment<byte>(bytes), WebSocketMessageType.Binary, true, timeout.Token).Wait();
            }

            public Message Receive()
            {
                var buffer = new byte[64 * 1024];
                using (var frame = new MemoryStream())
                {
                    while (true)
                    {
                        WebSocketReceiveResult r = socket.ReceiveAsync(new ArraySegment<byte>(buffer), timeout.Token).Result;
                        if (r.MessageType == WebSocketMessageType.Close) Assert.Fail("the server closed the connection: " + r.CloseStatus + " " + r.CloseStatusDescription);
                        Assert.AreEqual(WebSocketMessageType.Binary, r.MessageType, "protocol v1 sends binary frames only");
                        frame.Write(buffer, 0, r.Count);
                        if (r.EndOfMessage) return Codec.DecodeServer(frame.ToArray()); // a ProtocolException fails the test
                    }
                }
            }

            /// <summary>The next message that is not an idle frame; a server error fails the test.</summary>
            public Message ReceiveSpeech(Playout playout)
            {
                while (true)
                {
                    Message m = Receive();
                    var error = m as ErrorMessage;
                    if (error != null) Assert.Fail("server error " + error.Code + ": " + error.Message);
                    playout?.Handle(m);
                    var curves = m as Curves;
                    if (curves == null || !curves.IsIdle) return m;
                }
            }

            public void Dispose()
            {
                try
                {
                    if (socket.State == WebSocketState.Open)
                        socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None).Wait(5000);
                }
                catch (AggregateException) { }
                socket.Dispose();
                timeout.Dispose();
            }
        }

        static string Url()
        {
            string url = Environment.GetEnvironmentVariable("TALKBRIDGE_URL");
            if (string.IsNullOrEmpty(url)) TestSupport.Unavailable("TALKBRIDGE_URL is not set: no live server to talk to");
            return url;
        }

        static Welcome Handshake(Connection c)
        {
            c.Send(new Hello { Client = "talkbridge-unity-tests/0.1", AudioRate = 48000 });
            var welcome = c.Receive() as Welcome;
            Assert.IsNotNull(welcome, "the first answer to hello is welcome");
            Assert.AreEqual(1, welcome.Protocol);
            CollectionAssert.AreEqual(ChannelNames.Arkit52, welcome.Channels);
            Assert.AreEqual(new object[] { 60, 48000, "f16" }, new object[] { welcome.Fps, welcome.AudioRate, welcome.Encoding });
            return welcome;
        }

        [Test]
        public void AWholeUtteranceArrivesAndTheFaceIsInSyncWithItsAudio()
        {
            using (var c = new Connection(Url()))
            {
                Welcome welcome = Handshake(c);
                var playout = new Playout(OutputRate, new PlayoutOptions { BlendTime = 0, ReportInterval = 0 });
                playout.Handle(welcome);
                c.Send(new Say { Id = "u1", Text = "Hello from Unity. The mouth moves with the voice." });

                var start = c.ReceiveSpeech(playout) as Utterance;
                Assert.IsNotNull(start, "utterance start comes first");
                Assert.AreEqual(new object[] { "u1", "start", "say" }, new object[] { start.Id, start.State, start.Source });

                long samples = 0;
                var frames = new List<float[]>();
                int audioSeq = 0, curveSeq = 0;
                Utterance end = null;
                while (end == null)
                {
                    Message m = c.ReceiveSpeech(playout);
                    if (m is Audio)
                    {
                        var a = (Audio)m;
                        Assert.AreEqual(new object[] { "u1", audioSeq++ }, new object[] { a.Id, a.Seq });
                        Assert.AreEqual(samples / 48000.0, a.T, 1e-6, "audio spans are contiguous");
                        samples += a.Data.Length / 2;
                    }
                    else if (m is Curves)
                    {
                        var k = (Curves)m;
                        Assert.AreEqual(new object[] { "u1", curveSeq++, 60 }, new object[] { k.Id, k.Seq, k.Fps });
                        Assert.AreEqual(frames.Count / 60.0, k.T, 1e-6, "curve frames are contiguous");
                        float[] values = Payloads.DecodeCurves(k.Data, k.N, 52, "f16");
                        for (int f = 0; f < k.N; f++) { var frame = new float[52]; Array.Copy(values, f * 52, frame, 0, 52); frames.Add(frame); }
                    }
                    else if (m is Utterance) end = (Utterance)m;
                    else if (m is Gesture) Assert.AreEqual("u1", ((Gesture)m).Id, "a body cue of this utterance");
                    else Assert.Fail("unexpected " + m.Type + " during the utterance");
                }
                Assert.AreEqual(new object[] { "u1", "end", "done" }, new object[] { end.Id, end.State, end.Reason });

                double audioSeconds = samples / 48000.0, curveSeconds = frames.Count / 60.0;
                Assert.Greater(audioSeconds, 0.5, "a sentence lasts more than half a second");
                Assert.AreEqual(audioSeconds, curveSeconds, 1.0 / 60 + 1e-9, "the curves cover the audio to within one frame");
                bool moved = false;
                foreach (float[] f in frames) moved |= f[Array.IndexOf(ChannelNames.Arkit52, "jawOpen")] > 0.05f;
                Assert.IsTrue(moved, "the jaw opens while speaking");

                playout.Pump();
                Assert.AreEqual((samples * OutputRate + 47999) / 48000, playout.Ring.WriteIndex, "all the audio, resampled to the output rate");
                var pose = new float[52];
                for (int k = 0; k < frames.Count; k++)
                {
                    long played = (long)Math.Round(k * OutputRate / 60.0);
                    if (played >= playout.Ring.WriteIndex) break;    // the last frame may lie past the last sample
                    playout.Sample(played, 1.0 / 60, pose);
                    Assert.AreEqual("u1", playout.PlayingId);
                    for (int ch = 0; ch < 52; ch++)
                        Assert.AreEqual(frames[k][ch], pose[ch], 1e-3, "frame " + k + " " + ChannelNames.Arkit52[ch]);
                }
                playout.Sample(playout.Ring.WriteIndex, 0.1, pose);
                Assert.IsNull(playout.PlayingId, "finished once its last sample was played");

                c.Send(new Ping { T = 42.5 });
                var pong = c.ReceiveSpeech(null) as Pong;
                Assert.IsNotNull(pong);
                Assert.AreEqual(42.5, pong.T);
            }
        }

        [Test]
        public void AnInterruptClearsTheUtteranceAndEndsIt()
        {
            using (var c = new Connection(Url()))
            {
                var playout = new Playout(OutputRate);
                playout.Handle(Handshake(c));
                c.Send(new Say { Id = "long", Text = "This sentence is long enough to be interrupted well before its end, "
                                                   + "because the server only streams half a second ahead of real time." });
                Assert.IsInstanceOf<Utterance>(c.ReceiveSpeech(playout));
                Message first;
                do first = c.ReceiveSpeech(playout); while (first is Gesture);  // a sentence's cues come first
                Assert.IsInstanceOf<Audio>(first);
                c.Send(new Interrupt { Id = "long" });
                bool cleared = false;
                while (true)
                {
                    Message m = c.ReceiveSpeech(playout);
                    if (m is Clear) { Assert.AreEqual("long", ((Clear)m).Id); cleared = true; continue; }
                    if (m is Utterance)
                    {
                        var end = (Utterance)m;
                        Assert.AreEqual(new object[] { "long", "end", "interrupted" }, new object[] { end.Id, end.State, end.Reason });
                        break;
                    }
                    Assert.IsFalse(cleared, "nothing of the utterance after its clear, got " + m.Type);
                }
                Assert.IsTrue(cleared, "clear comes before the end");
                playout.Pump();
                Assert.AreEqual(0, playout.Ring.Read(new float[OutputRate], 0, OutputRate), "nothing of it is left to play");
            }
        }
    }
}
