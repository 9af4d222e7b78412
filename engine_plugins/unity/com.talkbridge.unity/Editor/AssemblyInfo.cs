using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("TalkBridge.Editor.Tests")]
