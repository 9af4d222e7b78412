using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("TalkBridge.Tests")]
[assembly: InternalsVisibleTo("TalkBridge.Editor.Tests")]
[assembly: InternalsVisibleTo("TalkBridge.Editor")]
