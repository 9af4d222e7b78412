// Drop this on your avatar's root (a Ready Player Me, VRM/VRoid or ARKit-52 avatar) in an
// empty scene, start `talkbridge serve`, press Play and type. It adds whatever is missing:
// an AudioSource + TalkBridgeClient + TalkBridgeAudio on this GameObject, and a TalkBridgeFace
// driving every SkinnedMeshRenderer below it.
using TalkBridge;
using UnityEngine;

public sealed class TalkingAvatarSample : MonoBehaviour
{
    public string serverUrl = "ws://127.0.0.1:8765/v1/stream";
    public VisemeTargets visemeTargets = VisemeTargets.None;
    [TextArea] public string text = "Hello! I am talking through talkbridge, and my mouth follows my voice.";

    TalkBridgeClient client;
    string status = "connecting…";
    string lastReply = "";

    void Awake()
    {
        client = GetComponent<TalkBridgeClient>();
        if (client == null)
        {
            client = gameObject.AddComponent<TalkBridgeClient>(); // OnEnable connects with the defaults…
            client.url = serverUrl;                                // …so reconnect to this URL
            // Ask for visemes too when the avatar uses them instead of ARKit shapes.
            if (visemeTargets != VisemeTargets.None) client.channels = new[] { "arkit52", "visemes" };
            client.Connect();
        }
        if (GetComponent<AudioSource>() == null) gameObject.AddComponent<AudioSource>();
        if (GetComponent<TalkBridgeAudio>() == null) gameObject.AddComponent<TalkBridgeAudio>().client = client;
        var face = GetComponent<TalkBridgeFace>();              // not `??`: Unity's fake-null objects defeat it
        if (face == null) face = gameObject.AddComponent<TalkBridgeFace>();
        face.visemeTargets = visemeTargets;

        client.onConnected.AddListener(() => status = "connected to " + client.Session.Server);
        client.onDisconnected.AddListener(() => status = "disconnected, retrying…");
        client.onUtteranceStarted.AddListener((id, said) => status = "speaking " + id);
        client.onUtteranceEnded.AddListener((id, reason) => status = id + " " + reason);
        client.onReply.AddListener((id, reply, final) => lastReply = reply);
        client.onError.AddListener((code, message) => status = code + ": " + message);
    }

    void OnGUI()
    {
        GUILayout.BeginArea(new Rect(10, 10, 420, 260), GUI.skin.box);
        GUILayout.Label("talkbridge — " + status);
        text = GUILayout.TextArea(text, GUILayout.Height(70));
        GUILayout.BeginHorizontal();
        if (GUILayout.Button("Say")) client.Say(text);
        if (GUILayout.Button("Chat")) client.Chat(text);
        if (GUILayout.Button("Interrupt")) client.Interrupt();
        GUILayout.EndHorizontal();
        client.streamMicrophone = GUILayout.Toggle(client.streamMicrophone, "Stream microphone (dialogue)");
        if (lastReply.Length > 0) GUILayout.Label("Reply: " + lastReply);
        GUILayout.EndArea();
    }
}
