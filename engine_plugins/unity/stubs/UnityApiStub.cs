// NOT Unity. Hand-written stand-ins for the few UnityEngine/UnityEditor members the package uses, so CI
// can type-check the MonoBehaviours, editor code and sample with mcs (tests/engine_plugins/test_unity.py).
// Signatures follow the Unity 2021.3 scripting reference; a pass here is not a Unity compile.
using System;
namespace UnityEngine {
  public class Object { public string name; public static void DestroyImmediate(Object o){} public static T FindObjectOfType<T>() where T: Object => null; public static T Instantiate<T>(T o) where T:Object=>o; public static bool operator==(Object a, Object b)=>ReferenceEquals(a,b); public static bool operator!=(Object a, Object b)=>!ReferenceEquals(a,b); public override bool Equals(object o)=>base.Equals(o); public override int GetHashCode()=>0; }
  public class Component : Object { public GameObject gameObject; public T GetComponent<T>() => default(T); public T GetComponentInParent<T>() => default(T); public T[] GetComponentsInChildren<T>() => null; }
  public class Behaviour : Component { public bool enabled; }
  public class MonoBehaviour : Behaviour { }
  public class ScriptableObject : Object { public static T CreateInstance<T>() where T: ScriptableObject => null; }
  public class GameObject : Object { public GameObject(string n){} public T AddComponent<T>() where T: Component => null; }
  public class Mesh : Object { public Vector3[] vertices; public int[] triangles; public int blendShapeCount; public string GetBlendShapeName(int i)=>null; public void AddBlendShapeFrame(string n, float w, Vector3[] a, Vector3[] b, Vector3[] c){} }
  public class Renderer : Component {}
  public class SkinnedMeshRenderer : Renderer { public Mesh sharedMesh; public void SetBlendShapeWeight(int i, float w){} public float GetBlendShapeWeight(int i)=>0; }
  public class AudioSource : Behaviour { public bool isPlaying; public void Play(){} }
  public enum AnimatorControllerParameterType { Float = 1, Int = 3, Bool = 4, Trigger = 9 }
  public class AnimatorControllerParameter { public string name; public AnimatorControllerParameterType type; }
  public class Animator : Behaviour { public AnimatorControllerParameter[] parameters; public void SetTrigger(string name){} }
  public class AudioClip : Object { public int samples, frequency; public bool GetData(float[] d, int o)=>true; }
  public static class Microphone { public static AudioClip Start(string d, bool l, int s, int f)=>null; public static int GetPosition(string d)=>0; public static void End(string d){} }
  public static class AudioSettings { public static int outputSampleRate; public static void GetDSPBufferSize(out int a, out int b){a=b=0;} public delegate void AudioConfigurationChangeHandler(bool deviceWasChanged); public static event AudioConfigurationChangeHandler OnAudioConfigurationChanged; static void X(){OnAudioConfigurationChanged?.Invoke(false);} }
  public static class Application { public static string unityVersion; public static bool isPlaying; }
  public static class Time { public static float deltaTime; }
  public static class Mathf { public static float Clamp01(float v)=>v; }
  public struct Vector3 { public static Vector3 zero, right, up; }
  public struct Rect { public Rect(float a,float b,float c,float d){} }
  public class GUIStyle {} public class GUISkin { public GUIStyle box; }
  public static class GUI { public static GUISkin skin; }
  public class GUILayoutOption {}
  public static class GUILayout { public static void BeginArea(Rect r, GUIStyle s){} public static void EndArea(){} public static void Label(string s){} public static string TextArea(string s, params GUILayoutOption[] o)=>s; public static GUILayoutOption Height(float h)=>null; public static void BeginHorizontal(){} public static void EndHorizontal(){} public static bool Button(string s)=>false; public static bool Toggle(bool v, string s)=>v; }
  public class PropertyAttribute : Attribute {}
  public class HeaderAttribute : PropertyAttribute { public HeaderAttribute(string s){} }
  public class TooltipAttribute : PropertyAttribute { public TooltipAttribute(string s){} }
  public class RangeAttribute : PropertyAttribute { public RangeAttribute(float a, float b){} }
  public class MinAttribute : PropertyAttribute { public MinAttribute(float a){} }
  public class TextAreaAttribute : PropertyAttribute {}
  public class AddComponentMenu : Attribute { public AddComponentMenu(string s){} }
  public class RequireComponent : Attribute { public RequireComponent(Type t){} }
  public class DisallowMultipleComponent : Attribute {}
  public class CreateAssetMenuAttribute : Attribute { public string menuName, fileName; }
}
namespace UnityEngine.Events {
  public class UnityEvent { public void Invoke(){} public void AddListener(Action a){} }
  public class UnityEvent<A,B> { public void Invoke(A a, B b){} public void AddListener(Action<A,B> a){} }
  public class UnityEvent<A,B,C> { public void Invoke(A a, B b, C c){} public void AddListener(Action<A,B,C> a){} }
}
namespace UnityEditor {
  public class Editor : UnityEngine.ScriptableObject { public UnityEngine.Object target; public virtual void OnInspectorGUI(){} public bool DrawDefaultInspector()=>true; }
  public class CustomEditor : Attribute { public CustomEditor(Type t){} }
  public enum MessageType { None, Info, Warning, Error }
  public static class EditorGUILayout { public static void Space(){} public static void LabelField(string a, UnityEngine.GUIStyle s=null){} public static void LabelField(string a, string b, UnityEngine.GUIStyle s=null){} public static void HelpBox(string a, MessageType t){} public static bool Foldout(bool f, string s)=>f; }
  public static class EditorStyles { public static UnityEngine.GUIStyle boldLabel, label, miniLabel; }
  public static class EditorGUI { public static int indentLevel; }
  public static class EditorUtility { public static string SaveFilePanelInProject(string a, string b, string c, string d)=>null; public static void SetDirty(UnityEngine.Object o){} }
  public static class AssetDatabase { public static void CreateAsset(UnityEngine.Object o, string p){} }
  public static class Undo { public static void RecordObject(UnityEngine.Object o, string s){} }
}
