// Every way bytes from the server can be wrong, as one exception tree with the same stable
// codes as bridge/protocol/errors.py. The decoder throws nothing else, so a caller that
// catches ProtocolException has caught every fault of the remote side.
//
//   ProtocolException                 Code
//   ├── MalformedMessageException     malformed: not msgpack, not a map, trailing bytes, bad UTF-8, ext types
//   ├── MissingTypeException          missing_type
//   ├── UnknownTypeException          unknown_type
//   ├── InvalidFieldException         invalid_field (.Field names the offending key)
//   └── MessageTooLargeException      message_too_large
//
// Faults the server reports about us arrive as ErrorMessage values, not exceptions.
using System;

namespace TalkBridge.Core
{
    /// <summary>The remote side broke protocol v1; <see cref="Code"/> is the wire code.</summary>
    public class ProtocolException : Exception
    {
        public string Code { get; }

        public ProtocolException(string code, string message) : base(message) { Code = code; }
    }

    public sealed class MalformedMessageException : ProtocolException
    {
        public MalformedMessageException(string message) : base("malformed", message) { }
    }

    public sealed class MissingTypeException : ProtocolException
    {
        public MissingTypeException(string message) : base("missing_type", message) { }
    }

    public sealed class UnknownTypeException : ProtocolException
    {
        /// <summary>The type is one the other side sends (a fault), not one newer than this package.</summary>
        public bool OtherSide { get; }
        public UnknownTypeException(string message, bool otherSide = false) : base("unknown_type", message) { OtherSide = otherSide; }
    }

    public sealed class InvalidFieldException : ProtocolException
    {
        /// <summary>The key whose value was missing, of the wrong kind or out of range.</summary>
        public string Field { get; }

        public InvalidFieldException(string field, string message) : base("invalid_field", message) { Field = field; }
    }

    public sealed class MessageTooLargeException : ProtocolException
    {
        public MessageTooLargeException(string message) : base("message_too_large", message) { }
    }
}
