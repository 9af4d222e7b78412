// The connection to a talkbridge server: a ClientWebSocket on the thread pool that decodes
// frames with TalkBridge.Core and hands messages to the main thread, where Update dispatches
// them to UnityEvents and to MessageReceived (TalkBridgeAudio listens there). Reconnects with
// exponential back-off; a fatal error from the server (bad token, protocol) stops retrying.
// Events go through an EventInbox: a handler that calls Connect or Disconnect gets none of the
// old connection's remaining events, and what it causes fires on the next Update.
using System;
using System.Collections.Generic;
using System.IO;
using System.Net.WebSockets;
using System.Threading;
using System.Threading.Tasks;
using TalkBridge.Core;
using UnityEngine;
using UnityEngine.Events;

namespace TalkBridge
{
    [Serializable] public sealed class UtteranceEvent : UnityEvent<string, string> { }  // id, text (start) or reason (end)
    [Serializable] public sealed class TextEvent : UnityEvent<string, bool> { }        // text, final
    [Serializable] public sealed class ReplyEvent : UnityEvent<string, string, bool> { } // id, text, final
    [Serializable] public sealed class ErrorEvent : UnityEvent<string, string> { }     // code, message

    [AddComponentMenu("TalkBridge/TalkBridge Client")]
    [DisallowMultipleComponent]
    public sealed class TalkBridgeClient : MonoBehaviour
    {
        [Header("Server")]
        [Tooltip("ws://HOST:PORT/v1/stream of `talkbridge serve`")]
        public string url = "ws://127.0.0.1:8765/v1/stream";
        [Tooltip("Only when the server runs with --token")]
        public string token = "";
        [Tooltip("Channel sets or names: arkit52, visemes, head, eyes")]
        public string[] channels = { "arkit52" };
        [Range(1, 240)] public int fps = 60;
        public bool connectOnEnable = true;

        [Header("Reconnect")]
        [Min(0.05f)] public float initialBackoff = 0.5f;
        [Min(0.1f)] public float maxBackoff = 10f;

        [Header("Microphone (dialogue)")]
        [Tooltip("Stream the microphone to the server's dialogue loop with `mic` messages")]
        public bool streamMicrophone;
        [Tooltip("Empty: the default device")]
        public string microphoneDevice = "";
        public int microphoneRate = 16000;

        [Header("Events (main thread)")]
        public UnityEvent onConnected = new UnityEvent();
        public UnityEvent onDisconnected = new UnityEvent();
        public UtteranceEvent onUtteranceStarted = new UtteranceEvent();
        public UtteranceEvent onUtteranceEnded = new UtteranceEvent();
        public TextEvent onTranscript = new TextEvent();
        public ReplyEvent onReply = new ReplyEvent();
        public ErrorEvent onError = new ErrorEvent();

        /// <summary>Every server message, on the main thread, after the UnityEvents.</summary>
        public event Action<Message> MessageReceived;

        /// <summary>The session's welcome (columns, rates), or null while not connected.</summary>
        public Welcome Session { get; private set; }
        public bool IsConnected => Session != null;

        readonly EventInbox inbox = new EventInbox();
        readonly List<Message> waiting = new List<Message>(); // say/chat asked for before the welcome: sent on it
        readonly SemaphoreSlim sendLock = new SemaphoreSlim(1, 1);
        CancellationTokenSource running;
        volatile ClientWebSocket socket;
        int nextId;
        MicrophoneStream microphone;

        void OnEnable() { if (connectOnEnable) Connect(); }

        void OnDisable() { Disconnect(); }

        /// <summary>Starts (or restarts) the connection loop.</summary>
        public void Connect()
        {
            Disconnect();
            int connection = inbox.NewGeneration();
            running = new CancellationTokenSource();
            var backoff = new Backoff(initialBackoff, maxBackoff);
            var hello = new Hello { Client = "talkbridge-unity/0.1 (" + Application.unityVersion + ")", Token = string.IsNullOrEmpty(token) ? null : token,
                                    Fps = fps, Channels = channels, AudioRate = AudioSettings.outputSampleRate };
            string target = url;
            CancellationToken stop = running.Token;
            Task.Run(() => RunAsync(target, hello, backoff, connection, stop));
        }

        public void Disconnect()
        {
            if (running == null) return;
            inbox.NewGeneration(); // what this connection still had queued is never fired
            running.Cancel();
            running = null;
            microphone?.Dispose();
            microphone = null;
            if (Session != null) { Session = null; onDisconnected.Invoke(); }
        }

        /// <summary>Speaks text; returns the utterance id.</summary>
        public string Say(string text, string voice = null, string emotion = null, string lang = null)
        {
            string id = "unity-" + (++nextId);
            Send(new Say { Id = id, Text = text, Voice = NullIfEmpty(voice), Emotion = NullIfEmpty(emotion), Lang = NullIfEmpty(lang) });
            return id;
        }

        /// <summary>A typed user turn into the server's dialogue loop.</summary>
        public void Chat(string text) => Send(new Chat { Text = text });

        /// <summary>Shows the character a picture for its next turns: a JPEG or PNG of at most
        /// 1 MiB (Texture2D.EncodeToJPG() of a camera's RenderTexture); with a prompt it also asks
        /// about it. Dropped while disconnected: a frame would be stale by the welcome.</summary>
        public void SendImage(byte[] jpegOrPng, string prompt = null) =>
            Send(new ImageMessage { Data = jpegOrPng, Prompt = NullIfEmpty(prompt) });

        /// <summary>Barge-in: stops local playback at once and asks the server to stop (null: everything).</summary>
        public void Interrupt(string id = null)
        {
            LocalInterrupt?.Invoke(id);
            Send(new Interrupt { Id = id });
        }

        /// <summary>Raised by Interrupt before the request goes out, so the audio stops without a round trip.</summary>
        public event Action<string> LocalInterrupt;

        /// <summary>Sends mono samples in [-1, 1] at <paramref name="rate"/> Hz as a `mic` message.</summary>
        public void SendMic(float[] samples, int count, int rate) =>
            Send(new Mic { Rate = rate, Data = Payloads.EncodePcm16(samples, 0, count) });

        public void Send(Message message)
        {
            if (!IsConnected)
            {
                // Kept for the welcome only if it will still make sense then (see KeepsUntilWelcome).
                if (waiting.Count < 32 && Message.KeepsUntilWelcome(message)) waiting.Add(message);
                return;
            }
            byte[] bytes = Codec.Encode(message);
            ClientWebSocket ws = socket;
            if (ws != null) _ = SendAsync(ws, bytes);
        }

        static string NullIfEmpty(string s) => string.IsNullOrEmpty(s) ? null : s;

        async Task SendAsync(ClientWebSocket ws, byte[] bytes)
        {
            await sendLock.WaitAsync().ConfigureAwait(false);
            try { await ws.SendAsync(new ArraySegment<byte>(bytes), WebSocketMessageType.Binary, true, CancellationToken.None).ConfigureAwait(false); }
            catch (Exception e) when (e is WebSocketException || e is ObjectDisposedException || e is InvalidOperationException) { /* the receive loop reconnects */ }
            finally { sendLock.Release(); }
        }

        // ---- network thread ---------------------------------------------------------------

        async Task RunAsync(string target, Hello hello, Backoff backoff, int connection, CancellationToken stop)
        {
            Action<Action> post = fire => inbox.Post(connection, fire);
            while (!stop.IsCancellationRequested)
            {
                bool fatal = false;
                try { fatal = await SessionAsync(target, hello, backoff, post, stop).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
                catch (Exception e) { post(() => onError.Invoke("connection", e.Message)); }
                post(OnSocketClosed);
                if (fatal || stop.IsCancellationRequested) return;
                try { await Task.Delay(TimeSpan.FromSeconds(backoff.Next()), stop).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        }

        /// <summary>One connection; true when the server ended it with a fatal error (don't retry).</summary>
        async Task<bool> SessionAsync(string target, Hello hello, Backoff backoff, Action<Action> post, CancellationToken stop)
        {
            using (var ws = new ClientWebSocket())
            {
                await ws.ConnectAsync(new Uri(target), stop).ConfigureAwait(false);
                socket = ws;
                await SendAsync(ws, Codec.Encode(hello)).ConfigureAwait(false);
                var buffer = new byte[64 * 1024];
                var frame = new MemoryStream();
                bool fatal = false;
                while (ws.State == WebSocketState.Open && !stop.IsCancellationRequested)
                {
                    WebSocketReceiveResult r = await ws.ReceiveAsync(new ArraySegment<byte>(buffer), stop).ConfigureAwait(false);
                    if (r.MessageType == WebSocketMessageType.Close) break;
                    if (frame.Length + r.Count > Codec.MaxMessageBytes) throw new MessageTooLargeException("a server message exceeds 1 MiB");
                    frame.Write(buffer, 0, r.Count);
                    if (!r.EndOfMessage) continue;
                    byte[] bytes = frame.ToArray();
                    frame.SetLength(0);
                    if (r.MessageType != WebSocketMessageType.Binary) { post(() => onError.Invoke("text_frame", "the server sent a text frame")); continue; }
                    Message message;
                    try { if (!Codec.TryDecodeServer(bytes, out message)) continue; } // a newer server's type: skipped
                    catch (ProtocolException e) { post(() => onError.Invoke(e.Code, e.Message)); continue; }
                    if (message is Welcome) backoff.Reset();
                    var error = message as ErrorMessage;
                    if (error != null && error.Fatal) fatal = true;
                    post(() => Dispatch(message));
                }
                if (socket == ws) socket = null; // a Connect() from a handler may have opened the next one
                return fatal;
            }
        }

        // ---- main thread ------------------------------------------------------------------

        void Update()
        {
            inbox.Drain();
            if (streamMicrophone && IsConnected && MicrophoneAllowed())
            {
                if (microphone == null) microphone = new MicrophoneStream(microphoneDevice, microphoneRate);
                microphone.Pump(this);
            }
            else if (microphone != null) { microphone.Dispose(); microphone = null; }
        }

        bool micAsked;

        /// <summary>On Android and iOS the microphone needs the user's permission first: asked once,
        /// capture starts on the first Update after it is granted. Elsewhere it is always allowed.</summary>
        bool MicrophoneAllowed()
        {
#if UNITY_ANDROID && !UNITY_EDITOR
            if (UnityEngine.Android.Permission.HasUserAuthorizedPermission(UnityEngine.Android.Permission.Microphone)) return true;
            if (!micAsked) { micAsked = true; UnityEngine.Android.Permission.RequestUserPermission(UnityEngine.Android.Permission.Microphone); }
            return false;
#elif UNITY_IOS && !UNITY_EDITOR
            if (Application.HasUserAuthorization(UserAuthorization.Microphone)) return true;
            if (!micAsked) { micAsked = true; Application.RequestUserAuthorization(UserAuthorization.Microphone); }
            return false;
#else
            micAsked = true;
            return true;
#endif
        }

        void OnSocketClosed()
        {
            if (Session == null) return;
            Session = null;
            onDisconnected.Invoke();
        }

        void Dispatch(Message message)
        {
            if (message is Welcome) OnWelcome((Welcome)message);
            else if (message is Utterance)
            {
                var u = (Utterance)message;
                if (u.IsStart) onUtteranceStarted.Invoke(u.Id, u.Text ?? "");
                else onUtteranceEnded.Invoke(u.Id, u.Reason ?? "done");
            }
            else if (message is Transcript) onTranscript.Invoke(((Transcript)message).Text, ((Transcript)message).Final);
            else if (message is Reply) { var r = (Reply)message; onReply.Invoke(r.Id, r.Text, r.Final); }
            else if (message is ErrorMessage) { var e = (ErrorMessage)message; onError.Invoke(e.Code, e.Message); }
            MessageReceived?.Invoke(message);
        }

        void OnWelcome(Welcome welcome)
        {
            Session = welcome;
            onConnected.Invoke();
            var queued = waiting.ToArray();
            waiting.Clear();
            foreach (Message m in queued) Send(m);
        }

        /// <summary>Reads new samples from a looping Microphone clip and sends them as `mic` messages.</summary>
        sealed class MicrophoneStream : IDisposable
        {
            readonly string device;
            readonly AudioClip clip;
            readonly float[] chunk;
            int readPosition;

            public MicrophoneStream(string device, int rate)
            {
                this.device = string.IsNullOrEmpty(device) ? null : device;
                clip = Microphone.Start(this.device, true, 1, rate);
                chunk = new float[clip != null ? clip.samples : 0];
            }

            public void Pump(TalkBridgeClient client)
            {
                if (clip == null) return;
                int position = Microphone.GetPosition(device);
                int available = (position - readPosition + clip.samples) % clip.samples;
                if (available < clip.frequency / 10) return; // send ~100 ms at a time
                var samples = new float[available];
                int first = Math.Min(available, clip.samples - readPosition);
                clip.GetData(chunk, 0);
                Array.Copy(chunk, readPosition, samples, 0, first);
                Array.Copy(chunk, 0, samples, first, available - first);
                readPosition = position;
                client.SendMic(samples, available, clip.frequency);
            }

            public void Dispose() => Microphone.End(device);
        }
    }
}
