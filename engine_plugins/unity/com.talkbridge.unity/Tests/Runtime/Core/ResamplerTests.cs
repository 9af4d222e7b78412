using System;
using System.Collections.Generic;
using NUnit.Framework;
using TalkBridge.Core;

namespace TalkBridge.Tests
{
    [TestFixture]
    public class ResamplerTests
    {
        static float[] Sine(int rate, double hz, double amplitude, int n)
        {
            var x = new float[n];
            for (int i = 0; i < n; i++) x[i] = (float)(amplitude * Math.Sin(2 * Math.PI * hz * i / rate));
            return x;
        }

        /// <summary>Streams the input in uneven chunks, then flushes.</summary>
        static float[] Run(Resampler r, float[] input)
        {
            var output = new List<float>();
            var random = new Random(7);
            for (int at = 0; at < input.Length;)
            {
                int n = Math.Min(random.Next(1, 1500), input.Length - at);
                r.Process(input, at, n, output);
                at += n;
            }
            r.Flush(output);
            return output.ToArray();
        }

        /// <summary>Least-squares fit of a·sin + b·cos at a known frequency over the middle of the signal.</summary>
        static void Fit(float[] y, int rate, double hz, int from, int to, out double amplitude, out double residual)
        {
            double ss = 0, cc = 0, sc = 0, ys = 0, yc = 0;
            for (int i = from; i < to; i++)
            {
                double s = Math.Sin(2 * Math.PI * hz * i / rate), c = Math.Cos(2 * Math.PI * hz * i / rate);
                ss += s * s; cc += c * c; sc += s * c; ys += y[i] * s; yc += y[i] * c;
            }
            double det = ss * cc - sc * sc, a = (ys * cc - yc * sc) / det, b = (yc * ss - ys * sc) / det;
            amplitude = Math.Sqrt(a * a + b * b);
            double worst = 0;
            for (int i = from; i < to; i++)
                worst = Math.Max(worst, Math.Abs(y[i] - (a * Math.Sin(2 * Math.PI * hz * i / rate) + b * Math.Cos(2 * Math.PI * hz * i / rate))));
            residual = worst;
            Assert.Less(Math.Abs(b), 1e-3 * amplitude + 1e-4, "phase: output sample k must be input time k / rate");
        }

        static double ZeroCrossingHz(float[] y, int rate, int from, int to)
        {
            double first = -1, last = -1; int crossings = 0;
            for (int i = from; i < to - 1; i++)
            {
                if (y[i] <= 0 && y[i + 1] > 0)
                {
                    double t = i + y[i] / (y[i] - y[i + 1]);
                    if (first < 0) first = t; else crossings++;
                    last = t;
                }
            }
            return crossings * rate / (last - first);
        }

        [TestCase(24000, 48000, 1000.0)]
        [TestCase(48000, 44100, 1000.0)]
        [TestCase(16000, 48000, 3000.0)]
        [TestCase(22050, 44100, 440.0)]
        [TestCase(48000, 24000, 5000.0)]
        public void ASineKeepsItsFrequencyAmplitudeAndPhase(int inRate, int outRate, double hz)
        {
            float[] input = Sine(inRate, hz, 0.5, inRate); // one second
            float[] output = Run(new Resampler(inRate, outRate), input);
            Assert.AreEqual(outRate, output.Length, "ceil(inputs × out / in) samples");
            double amplitude, residual;
            Fit(output, outRate, hz, 200, outRate - 200, out amplitude, out residual);
            Assert.AreEqual(0.5, amplitude, 0.5 * 2e-3, "amplitude within 0.2 %");
            Assert.Less(residual, 2e-3, "every sample within 0.002 of the ideal sine");
            Assert.AreEqual(hz, ZeroCrossingHz(output, outRate, 200, outRate - 200), hz * 1e-4, "frequency within 0.01 %");
        }

        [Test]
        public void AToneAboveTheNewNyquistIsRemoved()
        {
            float[] output = Run(new Resampler(48000, 24000), Sine(48000, 15000, 0.5, 48000));
            double peak = 0;
            for (int i = 200; i < output.Length - 200; i++) peak = Math.Max(peak, Math.Abs(output[i]));
            Assert.Less(peak, 0.01, "a 15 kHz tone must not alias into 24 kHz output");
        }

        [Test]
        public void SameRateIsExactPassthrough()
        {
            float[] input = Sine(48000, 440, 0.5, 1000);
            CollectionAssert.AreEqual(input, Run(new Resampler(48000, 48000), input));
        }

        [Test]
        public void StreamingEqualsOneShotAndCountsAreExact()
        {
            float[] input = Sine(24000, 700, 0.3, 12345);
            var oneShot = new List<float>();
            var r = new Resampler(24000, 44100);
            r.Process(input, 0, input.Length, oneShot);
            r.Flush(oneShot);
            CollectionAssert.AreEqual(oneShot, Run(new Resampler(24000, 44100), input));
            Assert.AreEqual(r.OutputsFor(12345), oneShot.Count);
            Assert.AreEqual(22684, oneShot.Count); // ceil(12345 * 44100 / 24000 = 22683.9…)
        }
    }
}
