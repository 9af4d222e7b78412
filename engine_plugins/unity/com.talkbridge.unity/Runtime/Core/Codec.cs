// Bytes ⇄ messages for protocol v1. The field rules are those of _SCHEMAS in
// bridge/protocol/codec.py, row by row: nil counts as absent, unknown keys are ignored,
// ints must be msgpack ints, floats may be any finite number, times are ≥ 0. Decoding is
// total: a message comes back or a ProtocolException is thrown, nothing else.
using System;
using System.Collections.Generic;

namespace TalkBridge.Core
{
    public static class Codec
    {
        public const int MaxMessageBytes = 1 << 20;
        public const int MaxHelloChannels = 128;

        static readonly Dictionary<string, Func<Fields, Message>> ServerTypes = new Dictionary<string, Func<Fields, Message>>
        {
            { Welcome.TypeName, f => new Welcome { Protocol = f.Int("protocol", long.MinValue, long.MaxValue), Session = f.Str("session"),
                Server = f.Str("server"), Fps = f.Fps("fps"), Channels = f.Names("channels", int.MaxValue),
                AudioRate = f.Rate("audio_rate"), Encoding = f.Enum("encoding", "f16", "f32") } },
            { Utterance.TypeName, f => new Utterance { Id = f.Str("id"), State = f.Enum("state", "start", "end"),
                Source = f.Enum("source", "say", "dialogue", "audio_in"), Text = f.OptStr("text"),
                Reason = f.OptEnum("reason", "done", "interrupted", "error") } },
            { Audio.TypeName, f => new Audio { Id = f.Str("id"), Seq = f.Count("seq"), T = f.Time("t"), Data = f.Bin("data") } },
            { Curves.TypeName, f => new Curves { Id = f.Str("id"), Seq = f.Count("seq"), T = f.Time("t"), Fps = f.Fps("fps"),
                N = f.Count("n"), Data = f.Bin("data") } },
            { Clear.TypeName, f => new Clear { Id = f.Str("id") } },
            { Transcript.TypeName, f => new Transcript { Text = f.Str("text"), Final = f.Bool("final") } },
            { Reply.TypeName, f => new Reply { Id = f.Str("id"), Text = f.Str("text"), Final = f.Bool("final") } },
            { ErrorMessage.TypeName, f => new ErrorMessage { Code = f.Str("code"), Message = f.Str("message"),
                Fatal = f.OptBool("fatal") ?? false, Ref = f.OptStr("ref") } },
            { Pong.TypeName, f => new Pong { T = f.Clock("t"), ServerT = f.Clock("server_t") } },
            { Gesture.TypeName, f => new Gesture { Id = f.Str("id"), T = f.Time("t"), Name = f.Str("name"),
                Duration = f.Time("duration"), Strength = f.Unit("strength") } },
        };

        static readonly Dictionary<string, Func<Fields, Message>> ClientTypes = new Dictionary<string, Func<Fields, Message>>
        {
            { Hello.TypeName, f => new Hello { Protocol = f.Int("protocol", long.MinValue, long.MaxValue), Client = f.Str("client"),
                Token = f.OptStr("token"), Fps = f.OptFps("fps") ?? 60,
                Channels = f.Has("channels") ? f.Names("channels", MaxHelloChannels) : new[] { "arkit52" },
                AudioRate = f.OptRate("audio_rate") ?? 48000, Encoding = f.OptEnum("encoding", "f16", "f32") ?? "f16" } },
            { Say.TypeName, DecodeSay },
            { AudioIn.TypeName, f => new AudioIn { Id = f.Str("id"), Rate = f.Rate("rate"), Data = f.Bin("data"),
                End = f.OptBool("end") ?? false } },
            { Mic.TypeName, f => new Mic { Rate = f.Rate("rate"), Data = f.Bin("data") } },
            { Chat.TypeName, f => new Chat { Text = f.Str("text") } },
            { Interrupt.TypeName, f => new Interrupt { Id = f.OptStr("id") } },
            { Playback.TypeName, f => new Playback { Id = f.Str("id"),
                State = f.Enum("state", PlaybackState.Started, PlaybackState.Position, PlaybackState.Finished),
                Position = f.Time("position"), Interrupted = f.OptBool("interrupted") } },
            { Ping.TypeName, f => new Ping { T = f.Clock("t") } },
            { ImageMessage.TypeName, f => new ImageMessage { Data = f.ImageData("data"), T = f.Has("t") ? f.Time("t") : (double?)null,
                Prompt = f.OptStr("prompt") } },
        };

        /// <summary>One server frame → its message, or a ProtocolException.</summary>
        public static Message DecodeServer(byte[] data) => Decode(data, ServerTypes, ClientTypes);

        /// <summary>
        /// Like DecodeServer, but a message of a type newer than this package (the protocol only
        /// ever adds types) gives false and no error: a client skips it. Anything else broken
        /// still throws, a client message from the server included.
        /// </summary>
        public static bool TryDecodeServer(byte[] data, out Message message)
        {
            try { message = DecodeServer(data); return true; }
            catch (UnknownTypeException e) when (!e.OtherSide) { message = null; return false; }
        }

        /// <summary>One client frame → its message (for tests and replay tools).</summary>
        public static Message DecodeClient(byte[] data) => Decode(data, ClientTypes, ServerTypes);

        /// <summary>A message → msgpack bytes: "type" first, fields in order, nulls left off, floats as float64.</summary>
        public static byte[] Encode(Message message)
        {
            if (message == null) throw new ArgumentNullException(nameof(message));
            var present = new List<KeyValuePair<string, object>>();
            foreach (var field in message.Fields()) if (field.Value != null) present.Add(field);
            var writer = new MsgPackWriter();
            writer.WriteMapHeader(present.Count + 1);
            writer.WriteString("type");
            writer.WriteString(message.Type);
            foreach (var field in present) { writer.WriteString(field.Key); writer.WriteValue(field.Value); }
            return writer.ToArray();
        }

        static Message Decode(byte[] data, Dictionary<string, Func<Fields, Message>> types,
                              Dictionary<string, Func<Fields, Message>> otherSide)
        {
            if (data != null && data.Length > MaxMessageBytes)
                throw new MessageTooLargeException("message of " + data.Length + " bytes exceeds the limit of " + MaxMessageBytes + " bytes");
            var body = MsgPackReader.Unpack(data) as MsgPackMap;
            if (body == null) throw new MalformedMessageException("a message is a msgpack map");
            if (!body.AllKeysAreStrings) throw new MalformedMessageException("message keys must be str");
            object name = body.Get("type");
            if (name == null) throw new MissingTypeException("the message has no 'type'");
            var typeName = name as string;
            if (typeName == null) throw new InvalidFieldException("type", "type: expected str, got " + Fields.Kind(name));
            Func<Fields, Message> build;
            if (!types.TryGetValue(typeName, out build))
            {
                string hint = otherSide.ContainsKey(typeName) ? " (it travels the other way)" : "";
                throw new UnknownTypeException("unknown message type '" + Fields.Show(typeName) + "'" + hint, hint.Length > 0);
            }
            return build(new Fields(typeName, body));
        }

        static Message DecodeSay(Fields f)
        {
            var say = new Say { Text = f.Str("text"), Id = f.OptStr("id"), Voice = f.OptStr("voice"), Lang = f.OptStr("lang") };
            object emotion = f.Raw("emotion");
            if (emotion is string) say.Emotion = (string)emotion;
            else if (emotion != null) say.EmotionBlend = f.Weights("emotion", emotion);
            return say;
        }
    }

    /// <summary>Field checks over one decoded map; each failure names the message type and key.</summary>
    sealed class Fields
    {
        readonly string type;
        readonly MsgPackMap body;

        public Fields(string type, MsgPackMap body) { this.type = type; this.body = body; }

        public bool Has(string name) => body.Get(name) != null;

        public object Raw(string name) => body.Get(name);

        object Required(string name)
        {
            object value = body.Get(name);
            if (value == null)
                throw Reject(name, body.ContainsKey(name) ? "must not be nil" : "is required", false);
            return value;
        }

        public string Str(string name) => AsStr(name, Required(name));
        public string OptStr(string name) => Has(name) ? Str(name) : null;

        string AsStr(string name, object value)
        {
            var text = value as string;
            if (text == null) throw Expected(name, "str", value);
            return text;
        }

        public bool Bool(string name)
        {
            object value = Required(name);
            if (!(value is bool)) throw Expected(name, "bool", value);
            return (bool)value;
        }

        public bool? OptBool(string name) => Has(name) ? Bool(name) : (bool?)null;

        public byte[] Bin(string name)
        {
            object value = Required(name);
            var bytes = value as byte[];
            if (bytes == null) throw Expected(name, "bin", value);
            return bytes;
        }

        /// <summary>A JPEG or PNG file of at most 1 MiB, told by its magic bytes.</summary>
        public byte[] ImageData(string name)
        {
            byte[] data = Bin(name);
            if (data.Length == 0) throw Reject(name, "is empty; send the bytes of a JPEG or PNG file");
            if (data.Length > ImageMessage.MaxBytes)
                throw Reject(name, "has " + data.Length + " bytes; at most " + ImageMessage.MaxBytes + " (1 MiB) are allowed");
            if (ImageMessage.MediaTypeOf(data) == null) throw Reject(name, "is not a JPEG or PNG image");
            return data;
        }

        public long Int(string name, long lo, long hi)
        {
            object value = Required(name);
            if (value is ulong) throw Reject(name, "must be " + lo + ".." + hi + ", got " + value);
            if (!(value is long)) throw Expected(name, "int", value);
            long number = (long)value;
            if (number < lo || number > hi) throw Reject(name, "must be " + lo + ".." + hi + ", got " + number);
            return number;
        }

        public int Fps(string name) => (int)Int(name, 1, 240);
        public int? OptFps(string name) => Has(name) ? Fps(name) : (int?)null;
        public int Rate(string name) => (int)Int(name, 8000, 192000);
        public int? OptRate(string name) => Has(name) ? Rate(name) : (int?)null;
        public int Count(string name) => (int)Int(name, 0, int.MaxValue);

        /// <summary>Any finite number: many encoders write 1.0 as the int 1.</summary>
        public double Clock(string name) => Number(name, Required(name));

        /// <summary>A weight in 0..1 (a gesture's strength).</summary>
        public double Unit(string name)
        {
            double number = Clock(name);
            if (number < 0 || number > 1) throw Reject(name, "must be 0.0..1.0, got " + number);
            return number;
        }

        /// <summary>A position on an audio clock: never before the first sample.</summary>
        public double Time(string name)
        {
            double number = Clock(name);
            if (number < 0) throw Reject(name, "must be >= 0.0, got " + number);
            return number;
        }

        double Number(string name, object value)
        {
            double number;
            if (value is long) number = (long)value;
            else if (value is ulong) number = (ulong)value;
            else if (value is double) number = (double)value;
            else throw Expected(name, "float", value);
            if (double.IsNaN(number) || double.IsInfinity(number)) throw Reject(name, "must be finite, got " + number);
            return number;
        }

        public string Enum(string name, params string[] allowed)
        {
            string text = Str(name);
            if (Array.IndexOf(allowed, text) < 0)
                throw Reject(name, "must be one of " + string.Join(", ", allowed) + "; got '" + Show(text) + "'");
            return text;
        }

        public string OptEnum(string name, params string[] allowed) => Has(name) ? Enum(name, allowed) : null;

        public string[] Names(string name, int maxItems)
        {
            var items = Required(name) as object[];
            if (items == null) throw Expected(name, "array of str", body.Get(name));
            if (items.Length == 0) throw Reject(name, "must not be empty");
            if (items.Length > maxItems) throw Reject(name, "has " + items.Length + " entries; at most " + maxItems + " are allowed");
            var names = new string[items.Length];
            for (int i = 0; i < items.Length; i++)
            {
                names[i] = items[i] as string;
                if (names[i] == null) throw Reject(name, "entry " + i + ": expected str, got " + Kind(items[i]));
            }
            return names;
        }

        public Dictionary<string, double> Weights(string name, object value)
        {
            var map = value as MsgPackMap;
            if (map == null) throw Expected(name, "str or map", value);
            var weights = new Dictionary<string, double>();
            foreach (var entry in map.Entries)
            {
                var key = entry.Key as string;
                if (key == null) throw Reject(name, "keys must be str, got " + Kind(entry.Key));
                double weight = Number(name, entry.Value);
                if (weight < 0 || weight > 1) throw Reject(name, "weight of '" + Show(key) + "' must be 0.0..1.0, got " + weight);
                weights[key] = weight;
            }
            return weights;
        }

        InvalidFieldException Expected(string name, string what, object value) =>
            Reject(name, "expected " + what + ", got " + Kind(value));

        InvalidFieldException Reject(string name, string why, bool colon = true) =>
            new InvalidFieldException(name, type + "." + name + (colon ? ": " : " ") + why);

        /// <summary>msgpack's name for a value's kind: the vocabulary of client authors in any language.</summary>
        internal static string Kind(object value)
        {
            if (value == null || value == MsgPackMap.NilKey) return "nil";
            if (value is bool) return "bool";
            if (value is long || value is ulong) return "int";
            if (value is double) return "float";
            if (value is string) return "str";
            if (value is byte[]) return "bin";
            if (value is object[]) return "array";
            if (value is MsgPackMap) return "map";
            return value.GetType().Name;
        }

        /// <summary>Text short enough that a 1 MiB string can't blow up an error message.</summary>
        internal static string Show(string text) => text.Length <= 40 ? text : text.Substring(0, 37) + "...";
    }
}
