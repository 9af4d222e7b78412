// The engine side of "sync by construction": server messages in, audio into a ring buffer for
// the audio thread, and face weights sampled at the audio playback position out. Utterances
// play one after another; each has a jitter buffer (audio), a resampler (server rate → output
// rate) and a curve track. Idle frames ("idle") show when no utterance plays, with a blend
// in and out. A clear drops the utterance's audio from the ring and its frames at once.
// Gestures wait with their utterance and come out of TryTakeGesture when the audio being
// heard reaches their time.
//
// Threading: everything here runs on one thread (Unity's main thread) except the ring's Read,
// which the audio thread calls. The played-sample count is passed in, so tests drive the
// audio clock by hand.
using System;
using System.Collections.Generic;

namespace TalkBridge.Core
{
    public sealed class PlayoutOptions
    {
        /// <summary>Audio buffered before an utterance starts playing, seconds.</summary>
        public double Prebuffer = 0.1;
        /// <summary>Below this much queued audio, gaps in the stream are played as silence instead of waited for.</summary>
        public double LowWater = 0.04;
        /// <summary>Blend between idle frames and speech, seconds (0 = switch at once).</summary>
        public double BlendTime = 0.12;
        /// <summary>Interval of "position" playback reports, seconds of utterance time (0 = none).</summary>
        public double ReportInterval = 0.5;
        /// <summary>Ring buffer length, seconds of output audio.</summary>
        public double RingSeconds = 8;
    }

    public sealed class Playout
    {
        sealed class Speech
        {
            public string Id;
            public JitterBuffer Audio;
            public Resampler Resampler;
            public CurveTrack Curves;
            public long RingStart = -1, RingEnd = -1;
            public bool StartReported;
            public double NextReport;
            public List<Gesture> Gestures;  // by T; taken as playback reaches them
        }

        readonly PlayoutOptions options;
        readonly List<Speech> queue = new List<Speech>();
        readonly Queue<Playback> reports = new Queue<Playback>();
        readonly Queue<Gesture> dueGestures = new Queue<Gesture>();
        readonly List<float> resampled = new List<float>();
        float[] pullBuffer = new float[4096];
        float[] idlePose = new float[0], speechPose = new float[0], sampled = new float[0];
        string encoding = "f16";
        double speechWeight;

        public Playout(int outputRate, PlayoutOptions options = null)
        {
            if (outputRate <= 0) throw new ArgumentOutOfRangeException(nameof(outputRate));
            OutputRate = outputRate;
            this.options = options ?? new PlayoutOptions();
            Ring = new SpscRingBuffer((int)Math.Ceiling(this.options.RingSeconds * outputRate));
        }

        public int OutputRate { get; }
        /// <summary>The audio thread reads mono samples at OutputRate from here.</summary>
        public SpscRingBuffer Ring { get; }
        public string[] Channels { get; private set; } = new string[0];
        public int ServerRate { get; private set; }
        public int Fps { get; private set; } = 60;
        public bool IsConfigured => ServerRate > 0;
        /// <summary>The utterance being heard, or null.</summary>
        public string PlayingId { get; private set; }
        /// <summary>Its playback position on its own clock, seconds.</summary>
        public double PlayingPosition { get; private set; }
        /// <summary>How much speech shows through idle right now, 0..1.</summary>
        public double SpeechWeight => speechWeight;

        /// <summary>Sets rates, columns and encoding from the session's welcome; drops any old state.</summary>
        public void Configure(Welcome welcome)
        {
            queue.Clear();
            dueGestures.Clear();
            Channels = welcome.Channels;
            ServerRate = welcome.AudioRate;
            Fps = welcome.Fps;
            encoding = welcome.Encoding;
            idlePose = new float[Channels.Length];
            speechPose = new float[Channels.Length];
            sampled = new float[Channels.Length];
            speechWeight = 0;
            Ring.RequestSkip(Ring.ReadIndex, Ring.WriteIndex);
        }

        /// <summary>Takes the playback reports to send as "playback" messages.</summary>
        public bool TryTakeReport(out Playback report)
        {
            report = reports.Count > 0 ? reports.Dequeue() : null;
            return report != null;
        }

        /// <summary>
        /// Takes the gestures whose time the playing utterance has reached (in Sample), in order:
        /// fire the body animation now. Gestures of a dropped utterance never come out.
        /// </summary>
        public bool TryTakeGesture(out Gesture gesture)
        {
            gesture = dueGestures.Count > 0 ? dueGestures.Dequeue() : null;
            return gesture != null;
        }

        /// <summary>Applies one server message; other types are ignored. Payload errors throw ProtocolException.</summary>
        public void Handle(Message message)
        {
            if (message is Welcome) { Configure((Welcome)message); return; }
            if (!IsConfigured) return;
            if (message is Utterance) OnUtterance((Utterance)message);
            else if (message is Audio) OnAudio((Audio)message);
            else if (message is Curves) OnCurves((Curves)message);
            else if (message is Clear) Drop(((Clear)message).Id);
            else if (message is Gesture) OnGesture((Gesture)message);
        }

        void OnGesture(Gesture g)
        {
            Speech speech = Find(g.Id);
            if (speech == null || speech.Audio.Cleared) return; // its utterance is gone (or never came)
            int at = speech.Gestures.Count;
            while (at > 0 && speech.Gestures[at - 1].T > g.T) at--;
            speech.Gestures.Insert(at, g);
        }

        void OnUtterance(Utterance u)
        {
            Speech speech = Find(u.Id) ?? (u.IsStart ? Add(u.Id) : null);
            if (speech != null && !u.IsStart) speech.Audio.End();
        }

        void OnAudio(Audio audio)
        {
            (Find(audio.Id) ?? Add(audio.Id)).Audio.Push(audio.T, Payloads.DecodePcm16(audio.Data));
        }

        void OnCurves(Curves curves)
        {
            float[] values = Payloads.DecodeCurves(curves.Data, curves.N, Channels.Length, encoding);
            if (curves.IsIdle)
            {
                if (curves.N > 0) Array.Copy(values, (curves.N - 1) * Channels.Length, idlePose, 0, Channels.Length);
                return;
            }
            Speech speech = Find(curves.Id) ?? Add(curves.Id);
            if (!speech.Audio.Cleared) speech.Curves.Add(curves.T, curves.Fps, curves.N, values);
        }

        Speech Find(string id)
        {
            foreach (Speech s in queue) if (s.Id == id) return s;
            return null;
        }

        Speech Add(string id)
        {
            var speech = new Speech
            {
                Id = id,
                Audio = new JitterBuffer(ServerRate),
                Resampler = new Resampler(ServerRate, OutputRate),
                Curves = new CurveTrack(Channels.Length, Fps),
                NextReport = options.ReportInterval,
                Gestures = new List<Gesture>(),
            };
            queue.Add(speech);
            return speech;
        }

        /// <summary>
        /// Drops an utterance (or all of them when id is null) at once: its audio leaves the ring,
        /// its frames are never sampled again, and a "finished" report with interrupted=true is queued.
        /// </summary>
        public void Drop(string id)
        {
            long played = Ring.ReadIndex;
            for (int i = queue.Count - 1; i >= 0; i--)
            {
                Speech s = queue[i];
                if (id != null && s.Id != id) continue;
                s.Audio.Clear();
                if (s.RingStart >= 0) Ring.RequestSkip(s.RingStart, s.RingEnd >= 0 ? s.RingEnd : Ring.WriteIndex);
                double position = s.RingStart >= 0 ? Math.Max(0, played - s.RingStart) / (double)OutputRate : 0;
                Report(s, PlaybackState.Finished, position, true);
                queue.RemoveAt(i);
                if (PlayingId == s.Id) PlayingId = null;
            }
            if (dueGestures.Count == 0) return;
            var keep = new List<Gesture>(dueGestures);
            dueGestures.Clear();
            foreach (Gesture g in keep) if (id != null && g.Id != id) dueGestures.Enqueue(g);
        }

        /// <summary>Main thread, every frame: moves buffered audio into the ring.</summary>
        public void Pump()
        {
            foreach (Speech s in queue)
            {
                if (s.RingEnd >= 0) continue;
                if (!Fill(s)) return; // the writer is still buffering: later utterances wait
            }
        }

        /// <summary>Writes one utterance's audio; true when it is written completely.</summary>
        bool Fill(Speech s)
        {
            if (s.RingStart < 0)
            {
                if (!s.Audio.IsReady(Samples(options.Prebuffer, ServerRate))) return false;
                s.RingStart = Ring.WriteIndex;
            }
            Transfer(s, false);
            if (Ring.Queued < Samples(options.LowWater, OutputRate)) Transfer(s, true); // starving: play gaps as silence
            if (!s.Audio.Drained || Ring.Free < 256) return false;
            resampled.Clear();
            s.Resampler.Flush(resampled);
            WriteRing();
            s.RingEnd = Ring.WriteIndex;
            return true;
        }

        void Transfer(Speech s, bool skipGaps)
        {
            while (true)
            {
                int room = (int)((long)(Ring.Free - 64) * ServerRate / OutputRate) - 64;
                int n = s.Audio.Pull(pullBuffer, 0, Math.Min(pullBuffer.Length, room), skipGaps);
                if (n <= 0) return;
                resampled.Clear();
                s.Resampler.Process(pullBuffer, 0, n, resampled);
                WriteRing();
            }
        }

        void WriteRing()
        {
            float[] samples = resampled.ToArray();
            Ring.Write(samples, 0, samples.Length);
        }

        static long Samples(double seconds, int rate) => (long)Math.Round(seconds * rate);

        /// <summary>
        /// Samples the face at the audio clock: <paramref name="played"/> is the ring index being heard
        /// (Ring.ReadIndex, or an AudioClock estimate), <paramref name="deltaTime"/> drives the idle blend.
        /// Writes one weight per channel into <paramref name="pose"/>.
        /// </summary>
        public void Sample(long played, double deltaTime, float[] pose)
        {
            Speech playing = Advance(played);
            bool speaking = playing != null && playing.Curves.Sample(PlayingPosition, sampled);
            if (speaking) Array.Copy(sampled, speechPose, speechPose.Length);
            double step = options.BlendTime <= 0 ? 1 : deltaTime / options.BlendTime;
            speechWeight = speaking ? Math.Min(1, speechWeight + step) : Math.Max(0, speechWeight - step);
            float w = (float)speechWeight;
            int count = Math.Min(pose.Length, idlePose.Length);
            for (int i = 0; i < count; i++) pose[i] = idlePose[i] + (speechPose[i] - idlePose[i]) * w;
        }

        /// <summary>Finds the utterance at ring index <paramref name="played"/>, retiring finished ones.</summary>
        Speech Advance(long played)
        {
            PlayingId = null;
            while (queue.Count > 0)
            {
                Speech s = queue[0];
                if (s.RingStart < 0 || played < s.RingStart) return null;
                if (s.RingEnd >= 0 && played >= s.RingEnd)
                {
                    double length = (s.RingEnd - s.RingStart) / (double)OutputRate;
                    if (s.RingEnd > s.RingStart) { Started(s); Due(s, length); Report(s, PlaybackState.Finished, length, false); }
                    queue.RemoveAt(0);
                    continue;
                }
                PlayingId = s.Id;
                PlayingPosition = (played - s.RingStart) / (double)OutputRate;
                if (played > s.RingStart) { Started(s); Due(s, PlayingPosition); }
                if (options.ReportInterval > 0 && PlayingPosition >= s.NextReport)
                {
                    Report(s, PlaybackState.Position, PlayingPosition, null);
                    s.NextReport = PlayingPosition + options.ReportInterval;
                }
                return s;
            }
            return null;
        }

        /// <summary>Moves the utterance's gestures at or before <paramref name="position"/> to the due queue.</summary>
        void Due(Speech s, double position)
        {
            int n = 0;
            while (n < s.Gestures.Count && s.Gestures[n].T <= position + 1e-9) dueGestures.Enqueue(s.Gestures[n++]);
            s.Gestures.RemoveRange(0, n);
        }

        void Started(Speech s)
        {
            if (s.StartReported) return;
            s.StartReported = true;
            Report(s, PlaybackState.Started, 0, null);
        }

        void Report(Speech s, string state, double position, bool? interrupted)
        {
            reports.Enqueue(new Playback { Id = s.Id, State = state, Position = position, Interrupted = interrupted });
        }
    }
}
