// The binary payloads inside messages: PCM16 LE mono audio and row-major LE float16/float32
// curve frames. Size mismatches are the sender's fault and throw InvalidFieldException.
using System;

namespace TalkBridge.Core
{
    public static class Payloads
    {
        /// <summary>PCM16 LE → floats in [-1, 1) (sample / 32768).</summary>
        public static float[] DecodePcm16(byte[] data)
        {
            if (data == null) throw new ArgumentNullException(nameof(data));
            if ((data.Length & 1) != 0)
                throw new InvalidFieldException("data", "PCM16 data has an odd length (" + data.Length + " bytes)");
            var samples = new float[data.Length / 2];
            for (int i = 0; i < samples.Length; i++)
                samples[i] = (short)(data[2 * i] | (data[2 * i + 1] << 8)) / 32768f;
            return samples;
        }

        /// <summary>Floats → PCM16 LE, clipped to [-1, 1] and scaled by 32767 with rounding (as the server does).</summary>
        public static byte[] EncodePcm16(float[] samples, int offset, int count)
        {
            var data = new byte[count * 2];
            for (int i = 0; i < count; i++)
            {
                float x = samples[offset + i];
                if (float.IsNaN(x)) x = 0f;
                x = x < -1f ? -1f : (x > 1f ? 1f : x);
                short s = (short)Math.Round(x * 32767.0, MidpointRounding.ToEven);
                data[2 * i] = (byte)s;
                data[2 * i + 1] = (byte)(s >> 8);
            }
            return data;
        }

        public static byte[] EncodePcm16(float[] samples) => EncodePcm16(samples, 0, samples.Length);

        /// <summary>curves.data → n × channels floats, row-major.</summary>
        public static float[] DecodeCurves(byte[] data, int n, int channels, string encoding)
        {
            if (data == null) throw new ArgumentNullException(nameof(data));
            int size = SizeOf(encoding);
            if (n < 0 || channels < 0)
                throw new InvalidFieldException("n", "negative curve shape (" + n + ", " + channels + ")");
            long expected = (long)n * channels * size;
            if (data.Length != expected)
                throw new InvalidFieldException("data", "curves.data has " + data.Length + " bytes; " + n + " frames × "
                    + channels + " channels of " + encoding + " take " + expected);
            var values = new float[n * channels];
            for (int i = 0; i < values.Length; i++)
                values[i] = size == 2 ? HalfToFloat((ushort)(data[2 * i] | (data[2 * i + 1] << 8)))
                                      : SingleLE(data, 4 * i);
            return values;
        }

        /// <summary>Row-major frames → curves.data in the given encoding (for tests and replay tools).</summary>
        public static byte[] EncodeCurves(float[] values, string encoding)
        {
            int size = SizeOf(encoding);
            var data = new byte[values.Length * size];
            for (int i = 0; i < values.Length; i++)
            {
                byte[] bytes = size == 2 ? HalfBytes(FloatToHalf(values[i])) : BitConverter.GetBytes(values[i]);
                if (size == 4 && !BitConverter.IsLittleEndian) Array.Reverse(bytes);
                Buffer.BlockCopy(bytes, 0, data, i * size, size);
            }
            return data;
        }

        static int SizeOf(string encoding)
        {
            if (encoding == "f16") return 2;
            if (encoding == "f32") return 4;
            throw new InvalidFieldException("encoding", "unknown curve encoding '" + encoding + "'");
        }

        static float SingleLE(byte[] data, int offset)
        {
            if (BitConverter.IsLittleEndian) return BitConverter.ToSingle(data, offset);
            var bytes = new[] { data[offset + 3], data[offset + 2], data[offset + 1], data[offset] };
            return BitConverter.ToSingle(bytes, 0);
        }

        static byte[] HalfBytes(ushort half) => new[] { (byte)half, (byte)(half >> 8) };

        /// <summary>IEEE 754 binary16 → float, exact for every value including subnormals, ±inf and NaN.</summary>
        public static float HalfToFloat(ushort half)
        {
            int sign = (half >> 15) & 1, exponent = (half >> 10) & 0x1f, mantissa = half & 0x3ff;
            float magnitude;
            if (exponent == 0) magnitude = mantissa * (1f / 16777216f); // 2^-24
            else if (exponent == 31) magnitude = mantissa == 0 ? float.PositiveInfinity : float.NaN;
            else magnitude = (1f + mantissa / 1024f) * (float)Math.Pow(2, exponent - 15);
            return sign == 1 ? -magnitude : magnitude;
        }

        /// <summary>float → binary16, round to nearest even, as numpy's astype(float16).</summary>
        public static ushort FloatToHalf(float value)
        {
            int bits = BitConverter.ToInt32(BitConverter.GetBytes(value), 0);
            int sign = (bits >> 16) & 0x8000;
            int exponent = ((bits >> 23) & 0xff) - 127 + 15;
            int mantissa = bits & 0x7fffff;
            if (((bits >> 23) & 0xff) == 0xff) return (ushort)(sign | 0x7c00 | (mantissa != 0 ? 0x200 : 0));
            if (exponent >= 31) return (ushort)(sign | 0x7c00);
            if (exponent <= 0)
            {
                if (exponent < -10) return (ushort)sign;
                mantissa |= 0x800000;
                int shift = 14 - exponent;
                return (ushort)(sign | RoundShift(mantissa, shift));
            }
            return (ushort)(sign | ((exponent << 10) + RoundShift(mantissa, 13)));
        }

        static int RoundShift(int value, int shift)
        {
            int half = 1 << (shift - 1), rest = value & ((1 << shift) - 1), result = value >> shift;
            if (rest > half || (rest == half && (result & 1) != 0)) result++;
            return result;
        }
    }
}
