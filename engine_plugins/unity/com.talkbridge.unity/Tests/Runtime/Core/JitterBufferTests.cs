using System;
using NUnit.Framework;
using TalkBridge.Core;

namespace TalkBridge.Tests
{
    [TestFixture]
    public class JitterBufferTests
    {
        const int Rate = 1000; // 1 sample per ms keeps the arithmetic readable

        /// <summary>A chunk of n samples whose values are their own utterance sample index.</summary>
        static float[] Chunk(int start, int n)
        {
            var samples = new float[n];
            for (int i = 0; i < n; i++) samples[i] = start + i;
            return samples;
        }

        static float[] Pull(JitterBuffer buffer, int max, bool skipGaps = false)
        {
            var dest = new float[max];
            int n = buffer.Pull(dest, 0, max, skipGaps);
            Array.Resize(ref dest, n);
            return dest;
        }

        [Test]
        public void ReorderedChunksComeOutInOrder()
        {
            var b = new JitterBuffer(Rate);
            Assert.AreEqual(PushResult.Accepted, b.Push(0.100, Chunk(100, 50)));
            Assert.AreEqual(PushResult.Accepted, b.Push(0.050, Chunk(50, 50)));
            Assert.AreEqual(PushResult.Accepted, b.Push(0.000, Chunk(0, 50)));
            Assert.AreEqual(150, b.ContiguousAhead);
            CollectionAssert.AreEqual(Chunk(0, 150), Pull(b, 1000));
            Assert.AreEqual(150, b.Released);
            Assert.AreEqual(0, b.SilenceSamples);
        }

        [Test]
        public void AGapWaitsUntilTheConsumerStarvesThenPlaysAsSilence()
        {
            var b = new JitterBuffer(Rate);
            b.Push(0.0, Chunk(0, 50));
            b.Push(0.1, Chunk(100, 50)); // 50..99 missing
            CollectionAssert.AreEqual(Chunk(0, 50), Pull(b, 1000));
            Assert.AreEqual(0, Pull(b, 1000).Length, "waits for the missing chunk");
            float[] skipped = Pull(b, 1000, skipGaps: true);
            Assert.AreEqual(100, skipped.Length);
            CollectionAssert.AreEqual(new float[50], new ArraySegment<float>(skipped, 0, 50));
            Assert.AreEqual(100f, skipped[50], "the clock did not shift: sample 100 is still at index 100");
            Assert.AreEqual(50, b.SilenceSamples);
        }

        [Test]
        public void AChunkArrivingAfterItsSpanPlayedIsLate()
        {
            var b = new JitterBuffer(Rate);
            b.Push(0.0, Chunk(0, 50));
            b.Push(0.1, Chunk(100, 50));
            Pull(b, 1000, skipGaps: true);
            Assert.AreEqual(PushResult.Late, b.Push(0.05, Chunk(50, 50)));
            Assert.AreEqual(1, b.LateChunks);
            Assert.AreEqual(150, b.Released);
        }

        [Test]
        public void APartlyLateChunkPlaysOnlyItsTail()
        {
            var b = new JitterBuffer(Rate);
            b.Push(0.0, Chunk(0, 50));
            Pull(b, 40);
            Assert.AreEqual(PushResult.Trimmed, b.Push(0.02, Chunk(20, 60))); // 20..79 overlaps 20..39 already played
            CollectionAssert.AreEqual(Chunk(40, 40), Pull(b, 1000));
        }

        [Test]
        public void DuplicatesAreDropped()
        {
            var b = new JitterBuffer(Rate);
            b.Push(0.0, Chunk(0, 10));
            Assert.AreEqual(PushResult.Duplicate, b.Push(0.0, Chunk(0, 10)));
            CollectionAssert.AreEqual(Chunk(0, 10), Pull(b, 100));
        }

        [Test]
        public void EndFlushesGapsAndDrains()
        {
            var b = new JitterBuffer(Rate);
            b.Push(0.0, Chunk(0, 10));
            b.Push(0.02, Chunk(20, 10));
            Assert.IsFalse(b.IsReady(100));
            b.End();
            Assert.IsTrue(b.IsReady(100));
            Assert.AreEqual(30, Pull(b, 100).Length);
            Assert.IsTrue(b.Drained);
            Assert.AreEqual(PushResult.Closed, b.Push(0.03, Chunk(30, 10)));
        }

        [Test]
        public void InterruptedClearDropsEverythingAtOnce()
        {
            var b = new JitterBuffer(Rate);
            b.Push(0.0, Chunk(0, 100));
            Pull(b, 10);
            b.Clear();
            Assert.AreEqual(0, Pull(b, 100, skipGaps: true).Length);
            Assert.IsTrue(b.Drained && b.Cleared);
            Assert.AreEqual(PushResult.Closed, b.Push(0.1, Chunk(100, 10)));
        }

        [Test]
        public void ReadinessNeedsThePrebufferOrAGapWithPlentyAfterIt()
        {
            var b = new JitterBuffer(Rate);
            b.Push(0.0, Chunk(0, 40));
            Assert.IsFalse(b.IsReady(50));
            b.Push(0.04, Chunk(40, 10));
            Assert.IsTrue(b.IsReady(50));
            var gap = new JitterBuffer(Rate);
            gap.Push(0.05, Chunk(50, 60)); // chunk 0 lost
            Assert.IsTrue(gap.IsReady(50));
        }

        [Test]
        public void SpanTimesAreRoundedToTheNearestSample()
        {
            var b = new JitterBuffer(48000);
            b.Push(0.05, new float[2400]);     // 0.05 * 48000 = 2399.9999… in binary
            b.Push(0.0, new float[2400]);
            Assert.AreEqual(4800, b.ContiguousAhead);
        }
    }

    [TestFixture]
    public class RingBufferTests
    {
        [Test]
        public void WrapsAndCountsAndSkips()
        {
            var ring = new SpscRingBuffer(8);
            var src = new float[] { 1, 2, 3, 4, 5, 6 };
            Assert.AreEqual(6, ring.Write(src, 0, 6));
            var dest = new float[4];
            Assert.AreEqual(4, ring.Read(dest, 0, 4));
            Assert.AreEqual(6, ring.Write(src, 0, 6), "wraps around");
            Assert.AreEqual(0, ring.Write(src, 0, 1), "full");
            ring.RequestSkip(8, 10);                          // drop the 3rd and 4th of the second write
            dest = new float[8];
            Assert.AreEqual(6, ring.Read(dest, 0, 8));
            CollectionAssert.AreEqual(new float[] { 5, 6, 1, 2, 5, 6, 0, 0 }, dest);
            Assert.AreEqual(12, ring.ReadIndex);
            Assert.AreEqual(0, ring.Queued);
        }

        [Test]
        public void ConcurrentProducerAndConsumerSeeEverySampleOnce()
        {
            var ring = new SpscRingBuffer(1000);
            const int total = 2000000;
            long sum = 0;
            var consumer = new System.Threading.Thread(() =>
            {
                var block = new float[256];
                long read = 0;
                while (read < total)
                {
                    int n = ring.Read(block, 0, block.Length);
                    for (int i = 0; i < n; i++) { if (block[i] != (read + i) % 1024) throw new Exception("out of order at " + (read + i)); sum += (long)block[i]; }
                    read += n;
                }
            });
            consumer.Start();
            var chunk = new float[100];
            long written = 0;
            while (written < total)
            {
                int n = Math.Min(chunk.Length, (int)(total - written));
                for (int i = 0; i < n; i++) chunk[i] = (written + i) % 1024;
                int done = ring.Write(chunk, 0, n);
                written += done;
                if (done == 0) System.Threading.Thread.Yield();
            }
            Assert.IsTrue(consumer.Join(20000));
            long expected = 0;
            for (long i = 0; i < total; i++) expected += i % 1024;
            Assert.AreEqual(expected, sum);
        }

        [Test]
        public void AudioClockInterpolatesBetweenCallbacksAndNeverGoesBack()
        {
            var clock = new AudioClock();
            clock.Stamp(4800, 1000);                      // ticks per second: 1000
            Assert.AreEqual(4800 - 960, clock.Estimate(1000, 1000, 48000, 960));
            Assert.AreEqual(4800 - 960 + 480, clock.Estimate(1010, 1000, 48000, 960));
            Assert.AreEqual(4800, clock.Estimate(1100, 1000, 48000, 960), "never beyond what was read (underrun)");
            clock.Stamp(4800, 1200);
            Assert.AreEqual(4800, clock.Estimate(1200, 1000, 48000, 960), "never backwards");
        }

        // The same cases as the C++ core's PullClock (Tests/PullClockTest.cpp): 1024-sample
        // pulls at 48 kHz read every millisecond within 2 ms of the truth, and an underrun.
        [Test]
        public void AudioClockReadsBetweenPullsOf1024At48kWithinTwoMilliseconds()
        {
            const int rate = 48000, block = 1024;
            const long tps = 1000000;  // microsecond ticks
            var clock = new AudioClock();
            double worst = 0;
            long pulls = 0;
            for (long us = 0; us < 1500000; us += 1000)
            {
                long due = us * rate / tps / block + 1;  // the mixer took block k at k·block/rate
                while (pulls < due) { pulls++; clock.Stamp(pulls * block, (pulls - 1) * block * tps / rate); }
                long played = clock.Estimate(us, tps, rate, block);
                worst = Math.Max(worst, Math.Abs(played - (double)us * rate / tps) / rate);
            }
            Assert.Less(worst, 0.002);
        }

        [Test]
        public void AudioClockHoldsAtWhatWasTakenInAnUnderrun()
        {
            const int rate = 48000, block = 1024;
            var clock = new AudioClock();
            long last = 0;
            for (int k = 1; k <= 3; k++) clock.Stamp(k * block, (k - 1) * block * 1000 / rate);
            for (long ms = 0; ms < 500; ms += 2)
            {
                long played = clock.Estimate(ms, 1000, rate, block);
                Assert.GreaterOrEqual(played, last);
                Assert.LessOrEqual(played, 3 * block);
                last = played;
            }
            Assert.AreEqual(3 * block, last);
        }
    }
}
