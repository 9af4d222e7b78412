// Plays the utterances' audio through this GameObject's AudioSource and samples the face at
// what is being heard. The main thread feeds TalkBridge.Core.Playout (jitter buffer,
// resampler to AudioSettings.outputSampleRate) which fills a lock-free ring; the audio
// thread drains it in OnAudioFilterRead (no lock, no allocation) and stamps an AudioClock so
// the face moves smoothly between audio callbacks. Playback reports go back to the server.
// The server's gestures (a nod on "yes", a shrug on "I don't know") fire onGesture, and
// optionally an Animator trigger, when the audio being heard reaches their word.
using System;
using System.Diagnostics;
using TalkBridge.Core;
using UnityEngine;
using UnityEngine.Events;

namespace TalkBridge
{
    [Serializable] public sealed class GestureEvent : UnityEvent<string, float, float> { } // name, strength 0..1, duration s

    [AddComponentMenu("TalkBridge/TalkBridge Audio")]
    [RequireComponent(typeof(AudioSource))]
    [DisallowMultipleComponent]
    public sealed class TalkBridgeAudio : MonoBehaviour
    {
        [Tooltip("Defaults to the TalkBridgeClient on this GameObject or its parents")]
        public TalkBridgeClient client;
        [Tooltip("Audio buffered before an utterance starts, seconds")]
        [Range(0.02f, 1f)] public float prebuffer = 0.1f;
        [Tooltip("Blend between idle frames and speech, seconds")]
        [Range(0f, 1f)] public float idleBlend = 0.12f;
        [Range(0f, 2f)] public float volume = 1f;
        [Tooltip("Send `playback` position reports every this many seconds (0: only started/finished)")]
        public float reportInterval = 0.5f;
        [Tooltip("Extra output latency past Unity's DSP ring, seconds (Bluetooth headsets add 0.1-0.3); the face is sampled this much later")]
        [Range(0f, 0.5f)] public float extraOutputLatency = 0f;

        [Header("Gestures (body cues; the head and brows already move in the face)")]
        [Tooltip("Fired when the voice reaches a gesture's word: name (nod, shake, tilt, brow_raise, beat, shrug), strength 0..1, duration in seconds")]
        public GestureEvent onGesture = new GestureEvent();
        [Tooltip("Optional: set the trigger named triggerPrefix + gesture name (e.g. \"nod\") on this Animator, when its controller has one")]
        public Animator animator;
        public string triggerPrefix = "";

        Playout playout;
        AudioClock clock = new AudioClock();
        float[] mono = new float[8192];
        int outputRate;
        long latencySamples;
        float[] pose = new float[0];
        volatile bool audioReady;

        /// <summary>The core the audio plays from (null before Awake).</summary>
        public Playout Playout => playout;
        /// <summary>The columns of <see cref="Pose"/>: the session's channels.</summary>
        public string[] Channels => playout != null ? playout.Channels : new string[0];
        /// <summary>This frame's weights, one per channel, sampled at the audio being heard.</summary>
        public float[] Pose => pose;
        public bool IsSpeaking => playout != null && playout.PlayingId != null;

        void Awake()
        {
            if (client == null) client = GetComponentInParent<TalkBridgeClient>();
            Build();
            AudioSettings.OnAudioConfigurationChanged += OnAudioConfigurationChanged;
        }

        void OnDestroy() => AudioSettings.OnAudioConfigurationChanged -= OnAudioConfigurationChanged;

        void Build()
        {
            audioReady = false;
            outputRate = AudioSettings.outputSampleRate;
            int bufferLength, bufferCount;
            AudioSettings.GetDSPBufferSize(out bufferLength, out bufferCount);
            // FMOD (Unity's mixer) plays out of a ring of `bufferCount` blocks of `bufferLength`
            // samples (System::setDSPBufferSize: "numbuffers ... the total output buffer is
            // bufferlength * numbuffers"): a block OnAudioFilterRead fills is heard after the
            // ones queued ahead of it, so count the whole ring, not one block (Unity's "Best
            // latency" on desktop: 256 x 4 at 48 kHz = 21 ms; "Default": 1024 x 4 = 85 ms).
            // The device's own buffer is past what FMOD reports: `extraOutputLatency`.
            latencySamples = (long)bufferLength * System.Math.Max(1, bufferCount)
                             + (long)(extraOutputLatency * outputRate);
            clock = new AudioClock();
            playout = new Playout(outputRate, new PlayoutOptions { Prebuffer = prebuffer, BlendTime = idleBlend, ReportInterval = reportInterval });
            if (client != null && client.Session != null) playout.Handle(client.Session);
            audioReady = true;
        }

        void OnAudioConfigurationChanged(bool deviceWasChanged) => Build();

        void OnEnable()
        {
            if (client != null)
            {
                client.MessageReceived += OnMessage;
                client.LocalInterrupt += OnLocalInterrupt;
            }
            var source = GetComponent<AudioSource>();
            if (!source.isPlaying) source.Play(); // no clip: OnAudioFilterRead is the source
        }

        void OnDisable()
        {
            if (client == null) return;
            client.MessageReceived -= OnMessage;
            client.LocalInterrupt -= OnLocalInterrupt;
        }

        void OnMessage(Message message)
        {
            try { playout.Handle(message); }
            catch (ProtocolException e) { client.onError.Invoke(e.Code, e.Message); }
            if (message is Welcome) pose = new float[playout.Channels.Length];
        }

        void OnLocalInterrupt(string id) => playout.Drop(id);

        void Update()
        {
            playout.Pump();
            long heard = clock.Estimate(Stopwatch.GetTimestamp(), Stopwatch.Frequency, outputRate, latencySamples);
            if (pose.Length != playout.Channels.Length) pose = new float[playout.Channels.Length];
            playout.Sample(heard, Time.deltaTime, pose);
            Playback report;
            while (playout.TryTakeReport(out report)) if (client != null) client.Send(report);
            Gesture gesture;
            while (playout.TryTakeGesture(out gesture)) FireGesture(gesture);
        }

        void FireGesture(Gesture gesture)
        {
            onGesture.Invoke(gesture.Name, (float)gesture.Strength, (float)gesture.Duration);
            if (animator == null) return;
            string trigger = triggerPrefix + gesture.Name;
            foreach (AnimatorControllerParameter p in animator.parameters)
            {
                if (p.type == AnimatorControllerParameterType.Trigger && p.name == trigger) { animator.SetTrigger(trigger); return; }
            }
        }

        /// <summary>Audio thread: mono speech from the ring, copied to every output channel.</summary>
        void OnAudioFilterRead(float[] data, int channels)
        {
            if (!audioReady) return;
            Playout current = playout;
            int frames = data.Length / channels;
            if (mono.Length < frames) return; // larger than any DSP buffer Unity uses; never allocate here
            int n = current.Ring.Read(mono, 0, frames);
            float gain = volume;
            for (int i = 0; i < n; i++)
            {
                float v = mono[i] * gain;
                for (int c = 0; c < channels; c++) data[i * channels + c] += v;
            }
            AudioClock stamp = clock;
            stamp.Stamp(current.Ring.ReadIndex, Stopwatch.GetTimestamp());
        }
    }
}
