// One utterance's audio on its own clock: chunks arrive with the utterance time of their
// first sample and leave in order as one contiguous stream. WebSocket delivery is ordered, so
// reordering and gaps are rare, but the playout must never stall or shift the clock on them:
// a chunk that arrives after its span was played is dropped (late), a gap is played as
// silence once the consumer would otherwise starve, and clear() drops everything at once.
using System;
using System.Collections.Generic;

namespace TalkBridge.Core
{
    public enum PushResult
    {
        /// <summary>Buffered in full.</summary>
        Accepted,
        /// <summary>Its head was already played (as silence or from another chunk); the rest is buffered.</summary>
        Trimmed,
        /// <summary>Its whole span was already played: dropped.</summary>
        Late,
        /// <summary>A chunk starting at the same sample is already buffered: dropped.</summary>
        Duplicate,
        /// <summary>The utterance was cleared or has ended: dropped.</summary>
        Closed,
    }

    public sealed class JitterBuffer
    {
        readonly SortedList<long, float[]> pending = new SortedList<long, float[]>();

        public JitterBuffer(int sampleRate)
        {
            if (sampleRate <= 0) throw new ArgumentOutOfRangeException(nameof(sampleRate));
            SampleRate = sampleRate;
        }

        public int SampleRate { get; }
        /// <summary>Samples handed out so far: the utterance time of the next one is Released / SampleRate.</summary>
        public long Released { get; private set; }
        /// <summary>The utterance ended: no more chunks will come, gaps before buffered chunks become silence.</summary>
        public bool Ended { get; private set; }
        public bool Cleared { get; private set; }
        public int LateChunks { get; private set; }
        public int DuplicateChunks { get; private set; }
        /// <summary>Samples of gaps played as silence.</summary>
        public long SilenceSamples { get; private set; }
        /// <summary>Everything was handed out and nothing more will come.</summary>
        public bool Drained => Ended && pending.Count == 0;

        /// <summary>Buffers samples whose first one is at utterance time <paramref name="t"/> seconds.</summary>
        public PushResult Push(double t, float[] samples)
        {
            if (samples == null) throw new ArgumentNullException(nameof(samples));
            if (Ended || Cleared) return PushResult.Closed;
            long start = (long)Math.Round(t * SampleRate);
            if (start + samples.Length <= Released) { LateChunks++; return PushResult.Late; }
            if (pending.ContainsKey(start)) { DuplicateChunks++; return PushResult.Duplicate; }
            pending.Add(start, samples);
            return start < Released ? PushResult.Trimmed : PushResult.Accepted;
        }

        /// <summary>No more chunks will come (utterance end).</summary>
        public void End() => Ended = true;

        /// <summary>Drops everything buffered; nothing of this utterance plays any more.</summary>
        public void Clear()
        {
            pending.Clear();
            Cleared = true;
            Ended = true;
        }

        /// <summary>Samples available without a gap from <see cref="Released"/>.</summary>
        public long ContiguousAhead
        {
            get
            {
                long cursor = Released;
                for (int i = 0; i < pending.Count; i++)
                {
                    long start = pending.Keys[i];
                    if (start > cursor) break;
                    cursor = Math.Max(cursor, start + pending.Values[i].Length);
                }
                return cursor - Released;
            }
        }

        /// <summary>Enough is buffered to start playing without an immediate underrun.</summary>
        public bool IsReady(long prebufferSamples)
        {
            if (Ended || ContiguousAhead >= prebufferSamples) return true;
            if (pending.Count == 0) return false;
            long last = pending.Keys[pending.Count - 1] + pending.Values[pending.Count - 1].Length;
            return last - Released >= 2 * prebufferSamples; // a gap with plenty after it: it will be skipped
        }

        /// <summary>
        /// Copies up to <paramref name="max"/> samples in order. A gap stops the copy unless
        /// <paramref name="skipGaps"/> is set (the consumer is about to starve) or the utterance ended,
        /// in which case the gap is played as silence so the clock never shifts.
        /// </summary>
        public int Pull(float[] dest, int offset, int max, bool skipGaps)
        {
            int written = 0;
            while (written < max && pending.Count > 0)
            {
                long start = pending.Keys[0];
                float[] chunk = pending.Values[0];
                if (start + chunk.Length <= Released) { pending.RemoveAt(0); continue; }
                if (start > Released)
                {
                    if (!skipGaps && !Ended) break;
                    int gap = (int)Math.Min(start - Released, max - written);
                    Array.Clear(dest, offset + written, gap);
                    Released += gap; SilenceSamples += gap; written += gap;
                    continue;
                }
                int from = (int)(Released - start);
                int n = Math.Min(chunk.Length - from, max - written);
                Array.Copy(chunk, from, dest, offset + written, n);
                Released += n; written += n;
                if (from + n == chunk.Length) pending.RemoveAt(0);
            }
            return written;
        }
    }
}
