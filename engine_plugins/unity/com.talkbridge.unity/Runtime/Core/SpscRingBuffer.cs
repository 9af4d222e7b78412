// A lock-free single-producer single-consumer ring of float samples: the main thread writes,
// the audio thread reads. Indices only grow (64-bit), so "samples played" is ReadIndex and an
// utterance's playback position is ReadIndex minus the index it started at. The producer can
// ask the consumer to skip a range (clear, barge-in): the consumer applies it on its next
// read, with no lock and no allocation on the audio thread.
using System;
using System.Threading;

namespace TalkBridge.Core
{
    public sealed class SpscRingBuffer
    {
        sealed class SkipRange
        {
            public readonly long From, To;
            public SkipRange(long from, long to) { From = from; To = to; }
        }

        readonly float[] buffer;
        long readIndex, writeIndex;
        SkipRange pendingSkip;

        public SpscRingBuffer(int capacity)
        {
            if (capacity <= 0) throw new ArgumentOutOfRangeException(nameof(capacity));
            buffer = new float[capacity];
        }

        public int Capacity => buffer.Length;
        /// <summary>Samples consumed (played or skipped) since creation.</summary>
        public long ReadIndex => Volatile.Read(ref readIndex);
        /// <summary>Samples written since creation.</summary>
        public long WriteIndex => Volatile.Read(ref writeIndex);
        public int Queued => (int)(WriteIndex - ReadIndex);
        public int Free => Capacity - Queued;

        /// <summary>Producer: appends up to Free samples; returns how many were written.</summary>
        public int Write(float[] source, int offset, int count)
        {
            long w = writeIndex;
            int n = Math.Min(count, Capacity - (int)(w - Volatile.Read(ref readIndex)));
            for (int i = 0; i < n; i++) buffer[(w + i) % buffer.Length] = source[offset + i];
            Volatile.Write(ref writeIndex, w + n);
            return n;
        }

        /// <summary>Producer: the consumer jumps from <paramref name="from"/> to <paramref name="to"/> (≤ WriteIndex).</summary>
        public void RequestSkip(long from, long to)
        {
            if (to <= from) return;
            while (true)
            {
                SkipRange old = Volatile.Read(ref pendingSkip);
                var merged = old == null ? new SkipRange(from, to)
                                         : new SkipRange(Math.Min(old.From, from), Math.Max(old.To, to));
                if (Interlocked.CompareExchange(ref pendingSkip, merged, old) == old) return;
            }
        }

        /// <summary>Consumer: copies up to count samples; returns how many (the rest is the caller's silence).</summary>
        public int Read(float[] dest, int offset, int count)
        {
            long r = readIndex;
            int total = 0;
            while (total < count)
            {
                SkipRange skip = Volatile.Read(ref pendingSkip);
                if (skip != null && r >= skip.From)
                {
                    if (r < skip.To) r = skip.To;
                    Interlocked.CompareExchange(ref pendingSkip, null, skip);
                    continue;
                }
                long limit = Volatile.Read(ref writeIndex);
                if (skip != null && skip.From < limit) limit = skip.From;
                int n = (int)Math.Min(count - total, limit - r);
                if (n <= 0) break;
                for (int i = 0; i < n; i++) dest[offset + total + i] = buffer[(r + i) % buffer.Length];
                r += n;
                total += n;
            }
            Volatile.Write(ref readIndex, r);
            return total;
        }
    }

    /// <summary>
    /// Between audio callbacks the read index stands still; this estimates the sample being heard
    /// now from the last callback's (read index, time) pair, so faces move smoothly at any frame rate.
    /// Written by the audio thread through a seqlock: no lock, no allocation.
    /// </summary>
    public sealed class AudioClock
    {
        long version, stampIndex, stampTicks;
        long lastEstimate;

        /// <summary>Audio thread: after a read, the ring's read index and the time in Stopwatch-like ticks.</summary>
        public void Stamp(long readIndex, long ticks)
        {
            Interlocked.Increment(ref version);
            Volatile.Write(ref stampIndex, readIndex);
            Volatile.Write(ref stampTicks, ticks);
            Interlocked.Increment(ref version);
        }

        /// <summary>
        /// Main thread: samples played by <paramref name="nowTicks"/>, allowing for
        /// <paramref name="latencySamples"/> of output latency; never beyond what was read, never backwards.
        /// </summary>
        public long Estimate(long nowTicks, long ticksPerSecond, int sampleRate, long latencySamples)
        {
            long index, ticks, v;
            do
            {
                v = Volatile.Read(ref version);
                index = Volatile.Read(ref stampIndex);
                ticks = Volatile.Read(ref stampTicks);
            } while ((v & 1) != 0 || v != Volatile.Read(ref version));
            long elapsed = (long)((double)(nowTicks - ticks) / ticksPerSecond * sampleRate);
            long estimate = Math.Min(index, index - latencySamples + Math.Max(0, elapsed));
            if (estimate < lastEstimate) estimate = lastEstimate;
            lastEstimate = estimate;
            return estimate;
        }
    }
}
