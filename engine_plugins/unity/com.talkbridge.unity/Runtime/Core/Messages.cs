// The messages of wire protocol v1 (DESIGN §3) as plain classes, one per type. Field order in
// each class is the key order on the wire after "type", as in bridge/protocol/messages.py;
// a null optional field stays off the wire. Defaults match the Python dataclasses, so
// encoding a message gives the same bytes as the Python codec (the golden fixtures).
using System.Collections.Generic;

namespace TalkBridge.Core
{
    public abstract class Message
    {
        /// <summary>The "type" string on the wire.</summary>
        public abstract string Type { get; }

        /// <summary>The fields after "type", in wire order, null where an optional field is absent.</summary>
        internal abstract IEnumerable<KeyValuePair<string, object>> Fields();

        internal static KeyValuePair<string, object> F(string name, object value) =>
            new KeyValuePair<string, object>(name, value);

        /// <summary>Whether a message asked for before the server's welcome still means what it
        /// meant once a (new) session is open: what the user asked for (say, chat) does; an
        /// interrupt or a playback report names the last session's utterances, a ping or mic
        /// audio is stale by then, and a hello is the connection's own.</summary>
        public static bool KeepsUntilWelcome(Message message) => message is Say || message is Chat;
    }

    // ---- client → server ------------------------------------------------------------------

    public sealed class Hello : Message
    {
        public const string TypeName = "hello";
        public override string Type => TypeName;
        public long Protocol = 1;
        public string Client = "talkbridge-unity/0.1";
        public string Token;
        public int Fps = 60;
        public string[] Channels = { "arkit52" };
        public int AudioRate = 48000;
        public string Encoding = "f16";

        internal override IEnumerable<KeyValuePair<string, object>> Fields()
        {
            yield return F("protocol", Protocol); yield return F("client", Client); yield return F("token", Token);
            yield return F("fps", Fps); yield return F("channels", Channels);
            yield return F("audio_rate", AudioRate); yield return F("encoding", Encoding);
        }
    }

    public sealed class Say : Message
    {
        public const string TypeName = "say";
        public override string Type => TypeName;
        public string Text;
        public string Id;
        public string Voice;
        public string Lang;
        /// <summary>A named emotion; leave null when <see cref="EmotionBlend"/> is used.</summary>
        public string Emotion;
        /// <summary>Emotion weights in 0..1; written instead of <see cref="Emotion"/> when set.</summary>
        public Dictionary<string, double> EmotionBlend;

        internal override IEnumerable<KeyValuePair<string, object>> Fields()
        {
            yield return F("text", Text); yield return F("id", Id); yield return F("voice", Voice);
            yield return F("lang", Lang); yield return F("emotion", (object)EmotionBlend ?? Emotion);
        }
    }

    public sealed class AudioIn : Message
    {
        public const string TypeName = "audio_in";
        public override string Type => TypeName;
        public string Id;
        public int Rate;
        public byte[] Data;
        public bool End;

        internal override IEnumerable<KeyValuePair<string, object>> Fields()
        {
            yield return F("id", Id); yield return F("rate", Rate); yield return F("data", Data); yield return F("end", End);
        }
    }

    public sealed class Mic : Message
    {
        public const string TypeName = "mic";
        public override string Type => TypeName;
        public int Rate;
        public byte[] Data;

        internal override IEnumerable<KeyValuePair<string, object>> Fields()
        {
            yield return F("rate", Rate); yield return F("data", Data);
        }
    }

    public sealed class Chat : Message
    {
        public const string TypeName = "chat";
        public override string Type => TypeName;
        public string Text;

        internal override IEnumerable<KeyValuePair<string, object>> Fields() { yield return F("text", Text); }
    }

    public sealed class Interrupt : Message
    {
        public const string TypeName = "interrupt";
        public override string Type => TypeName;
        /// <summary>Null stops the current utterance and drops the queued ones.</summary>
        public string Id;

        internal override IEnumerable<KeyValuePair<string, object>> Fields() { yield return F("id", Id); }
    }

    public sealed class Playback : Message
    {
        public const string TypeName = "playback";
        public override string Type => TypeName;
        public string Id;
        public string State;
        public double Position;
        public bool? Interrupted;

        internal override IEnumerable<KeyValuePair<string, object>> Fields()
        {
            yield return F("id", Id); yield return F("state", State); yield return F("position", Position);
            yield return F("interrupted", Interrupted);
        }
    }

    /// <summary>The values of <see cref="Playback.State"/>.</summary>
    public static class PlaybackState
    {
        public const string Started = "started";
        public const string Position = "position";
        public const string Finished = "finished";
    }

    public sealed class Ping : Message
    {
        public const string TypeName = "ping";
        public override string Type => TypeName;
        public double T;

        internal override IEnumerable<KeyValuePair<string, object>> Fields() { yield return F("t", T); }
    }

    /// <summary>What the engine's camera sees, for the dialogue's next language-model turns;
    /// with a <see cref="Prompt"/> it also starts a turn about it, like a <see cref="Chat"/>.</summary>
    public sealed class ImageMessage : Message
    {
        public const string TypeName = "image";
        /// <summary>The most <see cref="Data"/> may hold (the whole message must fit 1 MiB too).</summary>
        public const int MaxBytes = 1 << 20;
        public override string Type => TypeName;
        /// <summary>A JPEG or PNG file (e.g. Texture2D.EncodeToJPG()), at most 1 MiB.</summary>
        public byte[] Data;
        /// <summary>When it was taken: seconds on the session clock (since welcome); null: on arrival.</summary>
        public double? T;
        public string Prompt;

        internal override IEnumerable<KeyValuePair<string, object>> Fields()
        {
            yield return F("data", Data); yield return F("t", T); yield return F("prompt", Prompt);
        }

        /// <summary>"image/jpeg" or "image/png" by the magic bytes, else null (the server would refuse it).</summary>
        public static string MediaTypeOf(byte[] data)
        {
            if (data == null) return null;
            if (data.Length >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return "image/jpeg";
            byte[] png = { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A };
            if (data.Length < png.Length) return null;
            for (int i = 0; i < png.Length; i++) if (data[i] != png[i]) return null;
            return "image/png";
        }
    }

    // ---- server → client ------------------------------------------------------------------

    public sealed class Welcome : Message
    {
        public const string TypeName = "welcome";
        public override string Type => TypeName;
        public long Protocol;
        public string Session;
        public string Server;
        public int Fps;
        /// <summary>The column order of every curves payload in this session.</summary>
        public string[] Channels;
        public int AudioRate;
        public string Encoding;

        internal override IEnumerable<KeyValuePair<string, object>> Fields()
        {
            yield return F("protocol", Protocol); yield return F("session", Session); yield return F("server", Server);
            yield return F("fps", Fps); yield return F("channels", Channels);
            yield return F("audio_rate", AudioRate); yield return F("encoding", Encoding);
        }
    }

    public sealed class Utterance : Message
    {
        public const string TypeName = "utterance";
        public override string Type => TypeName;
        public string Id;
        /// <summary>"start" or "end".</summary>
        public string State;
        /// <summary>"say", "dialogue" or "audio_in".</summary>
        public string Source;
        public string Text;
        /// <summary>On end: "done", "interrupted" or "error".</summary>
        public string Reason;

        public bool IsStart => State == "start";

        internal override IEnumerable<KeyValuePair<string, object>> Fields()
        {
            yield return F("id", Id); yield return F("state", State); yield return F("source", Source);
            yield return F("text", Text); yield return F("reason", Reason);
        }
    }

    public sealed class Audio : Message
    {
        public const string TypeName = "audio";
        public override string Type => TypeName;
        public string Id;
        public int Seq;
        /// <summary>Utterance time of the first sample, seconds.</summary>
        public double T;
        /// <summary>PCM16 LE mono at the session's audio_rate.</summary>
        public byte[] Data;

        internal override IEnumerable<KeyValuePair<string, object>> Fields()
        {
            yield return F("id", Id); yield return F("seq", Seq); yield return F("t", T); yield return F("data", Data);
        }
    }

    public sealed class Curves : Message
    {
        public const string TypeName = "curves";
        public const string IdleId = "idle";
        public override string Type => TypeName;
        public string Id;
        public int Seq;
        /// <summary>Time of frame 0; frame k is at T + k / Fps.</summary>
        public double T;
        public int Fps;
        public int N;
        /// <summary>N × channels little-endian float16 or float32, row-major.</summary>
        public byte[] Data;

        public bool IsIdle => Id == IdleId;

        internal override IEnumerable<KeyValuePair<string, object>> Fields()
        {
            yield return F("id", Id); yield return F("seq", Seq); yield return F("t", T);
            yield return F("fps", Fps); yield return F("n", N); yield return F("data", Data);
        }
    }

    public sealed class Clear : Message
    {
        public const string TypeName = "clear";
        public override string Type => TypeName;
        public string Id;

        internal override IEnumerable<KeyValuePair<string, object>> Fields() { yield return F("id", Id); }
    }

    public sealed class Transcript : Message
    {
        public const string TypeName = "transcript";
        public override string Type => TypeName;
        public string Text;
        public bool Final;

        internal override IEnumerable<KeyValuePair<string, object>> Fields()
        {
            yield return F("text", Text); yield return F("final", Final);
        }
    }

    public sealed class Reply : Message
    {
        public const string TypeName = "reply";
        public override string Type => TypeName;
        public string Id;
        public string Text;
        public bool Final;

        internal override IEnumerable<KeyValuePair<string, object>> Fields()
        {
            yield return F("id", Id); yield return F("text", Text); yield return F("final", Final);
        }
    }

    /// <summary>The "error" message (named so it doesn't hide System.Exception-style names).</summary>
    public sealed class ErrorMessage : Message
    {
        public const string TypeName = "error";
        public override string Type => TypeName;
        public string Code;
        public string Message;
        public bool Fatal;
        public string Ref;

        internal override IEnumerable<KeyValuePair<string, object>> Fields()
        {
            yield return F("code", Code); yield return F("message", Message); yield return F("fatal", Fatal);
            yield return F("ref", Ref);
        }
    }

    public sealed class Pong : Message
    {
        public const string TypeName = "pong";
        public override string Type => TypeName;
        public double T;
        public double ServerT;

        internal override IEnumerable<KeyValuePair<string, object>> Fields()
        {
            yield return F("t", T); yield return F("server_t", ServerT);
        }
    }

    /// <summary>A body cue on the utterance clock: play it when the playback of Id reaches T.
    /// Its head and brow part is already in the curves; this is for body animations.</summary>
    public sealed class Gesture : Message
    {
        public const string TypeName = "gesture";
        public override string Type => TypeName;
        public string Id;
        /// <summary>Start, seconds on the utterance's audio clock.</summary>
        public double T;
        /// <summary>nod, shake, tilt, brow_raise, beat, shrug (more may come).</summary>
        public string Name;
        public double Duration;
        /// <summary>0..1.</summary>
        public double Strength;

        internal override IEnumerable<KeyValuePair<string, object>> Fields()
        {
            yield return F("id", Id); yield return F("t", T); yield return F("name", Name);
            yield return F("duration", Duration); yield return F("strength", Strength);
        }
    }
}
