// One utterance's curve frames on its audio clock, sampled at any playback position:
// linear interpolation between the nearest frames that arrived, held at both ends. Frames
// may arrive in any order and with holes; a frame is placed by its time, not its seq.
using System;
using System.Collections.Generic;

namespace TalkBridge.Core
{
    public sealed class CurveTrack
    {
        /// <summary>Frames beyond an hour of speech are refused, so a bogus time can't allocate gigabytes.</summary>
        public const double MaxSeconds = 3600;

        readonly List<float[]> frames = new List<float[]>();
        int first = -1, last = -1;

        public CurveTrack(int channels, int fps)
        {
            if (channels <= 0) throw new ArgumentOutOfRangeException(nameof(channels));
            if (fps <= 0) throw new ArgumentOutOfRangeException(nameof(fps));
            Channels = channels;
            Fps = fps;
        }

        public int Channels { get; }
        public int Fps { get; }
        public bool IsEmpty => first < 0;
        /// <summary>Index of the last frame that arrived, plus one.</summary>
        public int FrameCount => last + 1;
        public int DroppedFrames { get; private set; }

        /// <summary>Adds <paramref name="n"/> frames (row-major values) whose frame k is at t + k / fps.</summary>
        public void Add(double t, int fps, int n, float[] values)
        {
            if (values == null) throw new ArgumentNullException(nameof(values));
            if (fps <= 0 || n < 0 || values.Length < (long)n * Channels) throw new ArgumentException("curve frames do not match their shape");
            for (int k = 0; k < n; k++)
            {
                double index = Math.Round((t + (double)k / fps) * Fps);
                if (index < 0 || index > MaxSeconds * Fps) { DroppedFrames++; continue; }
                var frame = new float[Channels];
                Array.Copy(values, k * Channels, frame, 0, Channels);
                Put((int)index, frame);
            }
        }

        void Put(int index, float[] frame)
        {
            while (frames.Count <= index) frames.Add(null);
            frames[index] = frame;
            if (first < 0 || index < first) first = index;
            if (index > last) last = index;
        }

        /// <summary>The frame with this index, or null where none arrived.</summary>
        public float[] Frame(int index) => index >= 0 && index < frames.Count ? frames[index] : null;

        /// <summary>The weights at utterance time <paramref name="time"/>; false when no frame arrived yet.</summary>
        public bool Sample(double time, float[] dest)
        {
            if (first < 0) return false;
            double x = time * Fps;
            if (x <= first) { Copy(frames[first], dest); return true; }
            if (x >= last) { Copy(frames[last], dest); return true; }
            int a = (int)Math.Floor(x);
            while (frames[a] == null) a--;
            int b = a + 1;
            while (frames[b] == null) b++;
            float w = (float)((x - a) / (b - a));
            float[] fa = frames[a], fb = frames[b];
            int count = Math.Min(dest.Length, Channels);
            for (int i = 0; i < count; i++) dest[i] = fa[i] + (fb[i] - fa[i]) * w;
            return true;
        }

        void Copy(float[] frame, float[] dest) => Array.Copy(frame, dest, Math.Min(dest.Length, Channels));
    }
}
