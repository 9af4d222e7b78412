// The protocol core: plain C++17 with no Unreal types (CMakeLists.txt beside this file builds
// the same sources, with GoogleTest, outside the engine). msgpack-cxx throws, so this module
// alone is built with exceptions; its public API never throws and never includes msgpack.
// The sources are C++17 and also compile as C++20 (the engine default since 5.3).
using System.IO;
using UnrealBuildTool;

public class TalkBridgeProtocol : ModuleRules
{
	public TalkBridgeProtocol(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = PCHUsageMode.NoPCHs;
		bUseUnity = false;
		bEnableExceptions = true;

		PublicDependencyModuleNames.Add("Core");  // only for IMPLEMENT_MODULE and THIRD_PARTY_INCLUDES_*

		PrivateIncludePaths.Add(Path.Combine(ModuleDirectory, "..", "ThirdParty", "msgpack", "include"));
		PrivateDefinitions.Add("MSGPACK_NO_BOOST=1");
		PrivateDefinitions.Add("TALKBRIDGE_UNREAL_BUILD=1");
	}
}
