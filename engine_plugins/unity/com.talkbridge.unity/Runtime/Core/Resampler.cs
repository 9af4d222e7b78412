// Streaming band-limited resampling (server rate → output rate) with a Kaiser-windowed sinc.
// Output sample k is input time k / outputRate exactly: the resampler waits for its look-ahead
// instead of delaying the signal, so the utterance clock survives resampling untouched.
using System;
using System.Collections.Generic;

namespace TalkBridge.Core
{
    public sealed class Resampler
    {
        const int TableResolution = 512;
        const double KaiserBeta = 8.6;

        readonly int inRate, outRate, halfWidth;
        readonly double cutoff;
        readonly float[] kernel;
        float[] history = new float[1024];
        long historyStart;  // input index of history[0]
        int historyLength;
        long inputCount, outputCount;

        /// <param name="halfWidth">Taps on each side of the output position (16 gives ~-80 dB images).</param>
        public Resampler(int inputRate, int outputRate, int halfWidth = 16)
        {
            if (inputRate <= 0 || outputRate <= 0) throw new ArgumentOutOfRangeException(nameof(inputRate));
            inRate = inputRate;
            outRate = outputRate;
            this.halfWidth = halfWidth;
            cutoff = Math.Min(1.0, (double)outputRate / inputRate);
            kernel = BuildKernel(halfWidth, cutoff);
        }

        public int InputRate => inRate;
        public int OutputRate => outRate;
        public long InputCount => inputCount;
        public long OutputCount => outputCount;
        public bool IsPassthrough => inRate == outRate;

        /// <summary>Feeds input samples; appends every output sample that can be computed now.</summary>
        public void Process(float[] input, int offset, int count, List<float> output)
        {
            if (IsPassthrough)
            {
                for (int i = 0; i < count; i++) output.Add(input[offset + i]);
                inputCount += count; outputCount += count;
                return;
            }
            Append(input, offset, count);
            Produce(output, false);
        }

        /// <summary>The input ended: appends the outputs up to its last sample (zeros beyond it).</summary>
        public void Flush(List<float> output)
        {
            if (!IsPassthrough) Produce(output, true);
        }

        /// <summary>Outputs that the input so far will give after a flush: ceil(inputs × out / in).</summary>
        public long OutputsFor(long inputs) => (inputs * outRate + inRate - 1) / inRate;

        void Produce(List<float> output, bool flushing)
        {
            while (true)
            {
                long numerator = outputCount * inRate;
                long center = numerator / outRate;
                if (flushing ? numerator >= inputCount * outRate : center + halfWidth >= inputCount) break;
                double frac = (double)(numerator % outRate) / outRate;
                output.Add(Convolve(center, frac));
                outputCount++;
            }
            Trim(outputCount * inRate / outRate - halfWidth);
        }

        float Convolve(long center, double frac)
        {
            double sum = 0, weights = 0;
            for (int j = -halfWidth + 1; j <= halfWidth; j++)
            {
                double w = Kernel(j - frac);
                long index = center + j;
                if (index >= 0) sum += w * Input(index);
                weights += w;
            }
            return (float)(sum / weights);
        }

        float Input(long index)
        {
            long i = index - historyStart;
            return i < historyLength ? history[i] : 0f;
        }

        double Kernel(double x)
        {
            double pos = Math.Abs(x) * TableResolution;
            int i = (int)pos;
            if (i >= kernel.Length - 1) return 0;
            double f = pos - i;
            return kernel[i] + (kernel[i + 1] - kernel[i]) * f;
        }

        void Append(float[] input, int offset, int count)
        {
            if (historyLength + count > history.Length)
                Array.Resize(ref history, Math.Max(history.Length * 2, historyLength + count));
            Array.Copy(input, offset, history, historyLength, count);
            historyLength += count;
            inputCount += count;
        }

        void Trim(long keepFrom)
        {
            int drop = (int)Math.Min(Math.Max(0, keepFrom - historyStart), historyLength);
            if (drop < 1024) return;
            Array.Copy(history, drop, history, 0, historyLength - drop);
            historyLength -= drop;
            historyStart += drop;
        }

        static float[] BuildKernel(int halfWidth, double cutoff)
        {
            var table = new float[halfWidth * TableResolution + 1];
            double norm = BesselI0(KaiserBeta);
            for (int i = 0; i < table.Length; i++)
            {
                double x = (double)i / TableResolution;
                double r = x / halfWidth;
                double window = BesselI0(KaiserBeta * Math.Sqrt(Math.Max(0, 1 - r * r))) / norm;
                table[i] = (float)(cutoff * Sinc(cutoff * x) * window);
            }
            return table;
        }

        static double Sinc(double x) => x == 0 ? 1 : Math.Sin(Math.PI * x) / (Math.PI * x);

        static double BesselI0(double x)
        {
            double sum = 1, term = 1, q = x * x / 4;
            for (int k = 1; k < 50; k++) { term *= q / (k * k); sum += term; if (term < 1e-12 * sum) break; }
            return sum;
        }
    }
}
