// The msgpack subset of protocol v1: a strict reader that turns untrusted bytes into plain
// .NET values (or a MalformedMessageException), and a writer that produces the same bytes as
// Python's msgpack.packb(use_bin_type=True). No reflection, no code generation, no IL2CPP
// resolvers: this is why the package needs no msgpack library (see Documentation~/index.md).
//
// Values read:  nil → null, bool → bool, int → long (ulong above long.MaxValue),
//               float32/64 → double, str → string, bin → byte[], array → object[],
//               map → MsgPackMap. Extension types are refused, as the server refuses them.
using System;
using System.Collections.Generic;
using System.Text;

namespace TalkBridge.Core
{
    /// <summary>A decoded msgpack map: entries in wire order plus a lookup by string key.</summary>
    public sealed class MsgPackMap
    {
        /// <summary>Stands for a nil key, which a Dictionary cannot hold.</summary>
        public static readonly object NilKey = new object();

        readonly Dictionary<string, object> byName = new Dictionary<string, object>(StringComparer.Ordinal);
        readonly HashSet<object> otherKeys = new HashSet<object>();
        readonly List<KeyValuePair<object, object>> entries = new List<KeyValuePair<object, object>>();

        public int Count => entries.Count;
        public IList<KeyValuePair<object, object>> Entries => entries;
        public bool AllKeysAreStrings => byName.Count == entries.Count;

        /// <summary>Adds an entry; false when the key is already there (a repeated key).</summary>
        internal bool TryAdd(object key, object value)
        {
            var name = key as string;
            bool fresh = name != null ? TryAddName(name, value) : otherKeys.Add(key ?? NilKey);
            if (fresh) entries.Add(new KeyValuePair<object, object>(key, value));
            return fresh;
        }

        bool TryAddName(string name, object value)
        {
            if (byName.ContainsKey(name)) return false;
            byName.Add(name, value);
            return true;
        }

        public bool ContainsKey(string name) => byName.ContainsKey(name);

        /// <summary>The value under a string key, or null when absent (nil reads the same).</summary>
        public object Get(string name)
        {
            object value;
            return byName.TryGetValue(name, out value) ? value : null;
        }
    }

    /// <summary>msgpack bytes → values. Total: returns a value or throws MalformedMessageException.</summary>
    public static class MsgPackReader
    {
        /// <summary>Deeper nesting than this is refused (protocol messages nest at most 2 levels).</summary>
        public const int MaxDepth = 64;

        static readonly UTF8Encoding StrictUtf8 = new UTF8Encoding(false, true);

        /// <summary>Reads exactly one value that spans the whole buffer.</summary>
        public static object Unpack(byte[] data)
        {
            if (data == null) throw new MalformedMessageException("no data");
            int pos = 0;
            object value = Read(data, ref pos, 0);
            if (pos != data.Length) throw new MalformedMessageException("trailing bytes after the msgpack map");
            return value;
        }

        static object Read(byte[] d, ref int pos, int depth)
        {
            if (depth > MaxDepth) throw new MalformedMessageException("msgpack nested too deeply");
            byte b = Byte(d, ref pos);
            if (b <= 0x7f) return (long)b;
            if (b >= 0xe0) return (long)(sbyte)b;
            if (b <= 0x8f) return ReadMap(d, ref pos, b & 0x0f, depth);
            if (b <= 0x9f) return ReadArray(d, ref pos, b & 0x0f, depth);
            if (b <= 0xbf) return Str(d, ref pos, b & 0x1f);
            return ReadTagged(d, ref pos, b, depth);
        }

        static object ReadTagged(byte[] d, ref int pos, byte b, int depth)
        {
            switch (b)
            {
                case 0xc0: return null;
                case 0xc2: return false;
                case 0xc3: return true;
                case 0xc4: return Bin(d, ref pos, (int)UInt(d, ref pos, 1));
                case 0xc5: return Bin(d, ref pos, (int)UInt(d, ref pos, 2));
                case 0xc6: return Bin(d, ref pos, Length32(d, ref pos));
                case 0xca: return (double)BitConverter.ToSingle(Swap(d, ref pos, 4), 0);
                case 0xcb: return BitConverter.ToDouble(Swap(d, ref pos, 8), 0);
                case 0xcc: return (long)UInt(d, ref pos, 1);
                case 0xcd: return (long)UInt(d, ref pos, 2);
                case 0xce: return (long)UInt(d, ref pos, 4);
                case 0xcf: return UInt64(d, ref pos);
                case 0xd0: return (long)(sbyte)UInt(d, ref pos, 1);
                case 0xd1: return (long)(short)UInt(d, ref pos, 2);
                case 0xd2: return (long)(int)UInt(d, ref pos, 4);
                case 0xd3: return (long)UInt(d, ref pos, 8);
                case 0xd9: return Str(d, ref pos, (int)UInt(d, ref pos, 1));
                case 0xda: return Str(d, ref pos, (int)UInt(d, ref pos, 2));
                case 0xdb: return Str(d, ref pos, Length32(d, ref pos));
                case 0xdc: return ReadArray(d, ref pos, (int)UInt(d, ref pos, 2), depth);
                case 0xdd: return ReadArray(d, ref pos, Length32(d, ref pos), depth);
                case 0xde: return ReadMap(d, ref pos, (int)UInt(d, ref pos, 2), depth);
                case 0xdf: return ReadMap(d, ref pos, Length32(d, ref pos), depth);
                case 0xc1: throw new MalformedMessageException("not a msgpack message (byte 0xc1 is never used)");
                default: throw new MalformedMessageException("msgpack extension types are not part of protocol v1");
            }
        }

        static object[] ReadArray(byte[] d, ref int pos, int count, int depth)
        {
            Need(d, pos, count); // every element takes at least one byte: no huge allocation from a short frame
            var items = new object[count];
            for (int i = 0; i < count; i++) items[i] = Read(d, ref pos, depth + 1);
            return items;
        }

        static MsgPackMap ReadMap(byte[] d, ref int pos, int count, int depth)
        {
            Need(d, pos, count);
            var map = new MsgPackMap();
            for (int i = 0; i < count; i++)
            {
                object key = Read(d, ref pos, depth + 1);
                if (key is object[] || key is MsgPackMap) throw new MalformedMessageException("a map key is an array or a map");
                if (key is byte[]) key = new BinKey((byte[])key);
                object value = Read(d, ref pos, depth + 1);
                if (!map.TryAdd(key, value)) throw new MalformedMessageException("a map repeats a key");
            }
            return map;
        }

        static string Str(byte[] d, ref int pos, int length)
        {
            Need(d, pos, length);
            string text;
            try { text = StrictUtf8.GetString(d, pos, length); }
            catch (ArgumentException) { throw new MalformedMessageException("a str is not valid UTF-8 (send binary data as msgpack bin)"); }
            pos += length;
            return text;
        }

        static byte[] Bin(byte[] d, ref int pos, int length)
        {
            Need(d, pos, length);
            var bytes = new byte[length];
            Buffer.BlockCopy(d, pos, bytes, 0, length);
            pos += length;
            return bytes;
        }

        static byte Byte(byte[] d, ref int pos)
        {
            Need(d, pos, 1);
            return d[pos++];
        }

        static ulong UInt(byte[] d, ref int pos, int size)
        {
            Need(d, pos, size);
            ulong value = 0;
            for (int i = 0; i < size; i++) value = (value << 8) | d[pos + i];
            pos += size;
            return value;
        }

        static object UInt64(byte[] d, ref int pos)
        {
            ulong value = UInt(d, ref pos, 8);
            return value <= long.MaxValue ? (object)(long)value : value;
        }

        static int Length32(byte[] d, ref int pos)
        {
            ulong length = UInt(d, ref pos, 4);
            if (length > int.MaxValue) throw new MalformedMessageException("not a msgpack message (length beyond the data)");
            return (int)length;
        }

        /// <summary>Big-endian bytes → a little/big-endian-correct buffer for BitConverter.</summary>
        static byte[] Swap(byte[] d, ref int pos, int size)
        {
            Need(d, pos, size);
            var bytes = new byte[size];
            for (int i = 0; i < size; i++) bytes[i] = d[pos + (BitConverter.IsLittleEndian ? size - 1 - i : i)];
            pos += size;
            return bytes;
        }

        static void Need(byte[] d, int pos, int count)
        {
            if (count < 0 || count > d.Length - pos)
                throw new MalformedMessageException("not a msgpack message (truncated)");
        }

        /// <summary>A bin map key, compared by content so repeated keys are found.</summary>
        sealed class BinKey
        {
            readonly byte[] bytes;
            public BinKey(byte[] bytes) { this.bytes = bytes; }
            public override bool Equals(object other)
            {
                var key = other as BinKey;
                if (key == null || key.bytes.Length != bytes.Length) return false;
                for (int i = 0; i < bytes.Length; i++) if (bytes[i] != key.bytes[i]) return false;
                return true;
            }
            public override int GetHashCode()
            {
                int hash = bytes.Length;
                foreach (byte b in bytes) hash = hash * 31 + b;
                return hash;
            }
        }
    }

    /// <summary>Values → msgpack bytes, choosing the same smallest formats as msgpack-python.</summary>
    public sealed class MsgPackWriter
    {
        readonly List<byte> buffer = new List<byte>(256);

        public byte[] ToArray() => buffer.ToArray();

        public void WriteNil() => buffer.Add(0xc0);

        public void WriteBool(bool value) => buffer.Add(value ? (byte)0xc3 : (byte)0xc2);

        public void WriteInt(long value)
        {
            if (value >= 0) WriteUInt((ulong)value);
            else if (value >= -32) buffer.Add((byte)(sbyte)value);
            else if (value >= sbyte.MinValue) Tagged(0xd0, (ulong)value, 1);
            else if (value >= short.MinValue) Tagged(0xd1, (ulong)value, 2);
            else if (value >= int.MinValue) Tagged(0xd2, (ulong)value, 4);
            else Tagged(0xd3, (ulong)value, 8);
        }

        public void WriteUInt(ulong value)
        {
            if (value < 0x80) buffer.Add((byte)value);
            else if (value <= byte.MaxValue) Tagged(0xcc, value, 1);
            else if (value <= ushort.MaxValue) Tagged(0xcd, value, 2);
            else if (value <= uint.MaxValue) Tagged(0xce, value, 4);
            else Tagged(0xcf, value, 8);
        }

        /// <summary>Always float64, as Python writes every float.</summary>
        public void WriteDouble(double value)
        {
            byte[] bytes = BitConverter.GetBytes(value);
            buffer.Add(0xcb);
            for (int i = 0; i < 8; i++) buffer.Add(bytes[BitConverter.IsLittleEndian ? 7 - i : i]);
        }

        public void WriteString(string value)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(value);
            int n = bytes.Length;
            if (n < 32) buffer.Add((byte)(0xa0 | n));
            else if (n <= byte.MaxValue) Tagged(0xd9, (ulong)n, 1);
            else if (n <= ushort.MaxValue) Tagged(0xda, (ulong)n, 2);
            else Tagged(0xdb, (ulong)n, 4);
            buffer.AddRange(bytes);
        }

        public void WriteBin(byte[] value)
        {
            int n = value.Length;
            if (n <= byte.MaxValue) Tagged(0xc4, (ulong)n, 1);
            else if (n <= ushort.MaxValue) Tagged(0xc5, (ulong)n, 2);
            else Tagged(0xc6, (ulong)n, 4);
            buffer.AddRange(value);
        }

        public void WriteArrayHeader(int count) => Header(count, 0x90, 0xdc, 0xdd);

        public void WriteMapHeader(int count) => Header(count, 0x80, 0xde, 0xdf);

        /// <summary>Writes null, bool, integers, float/double, string, byte[], string[] or a string→double map.</summary>
        public void WriteValue(object value)
        {
            if (value == null) WriteNil();
            else if (value is bool) WriteBool((bool)value);
            else if (value is int) WriteInt((int)value);
            else if (value is long) WriteInt((long)value);
            else if (value is double) WriteDouble((double)value);
            else if (value is float) WriteDouble((float)value);
            else if (value is string) WriteString((string)value);
            else if (value is byte[]) WriteBin((byte[])value);
            else if (value is IList<string>) WriteStrings((IList<string>)value);
            else if (value is IDictionary<string, double>) WriteWeights((IDictionary<string, double>)value);
            else throw new ArgumentException("cannot write a " + value.GetType().Name + " as msgpack");
        }

        void WriteStrings(IList<string> items)
        {
            WriteArrayHeader(items.Count);
            foreach (string item in items) WriteString(item);
        }

        void WriteWeights(IDictionary<string, double> weights)
        {
            WriteMapHeader(weights.Count);
            foreach (var pair in weights) { WriteString(pair.Key); WriteDouble(pair.Value); }
        }

        void Header(int count, byte fix, byte tag16, byte tag32)
        {
            if (count < 16) buffer.Add((byte)(fix | count));
            else if (count <= ushort.MaxValue) Tagged(tag16, (ulong)count, 2);
            else Tagged(tag32, (ulong)count, 4);
        }

        void Tagged(byte tag, ulong value, int size)
        {
            buffer.Add(tag);
            for (int i = size - 1; i >= 0; i--) buffer.Add((byte)(value >> (8 * i)));
        }
    }
}
