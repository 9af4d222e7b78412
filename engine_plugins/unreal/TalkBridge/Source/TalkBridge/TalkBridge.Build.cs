// The runtime: WebSocket connection, Live Link source + factory, streaming audio player,
// microphone capture and the Blueprint component, all thin over TalkBridgeProtocol.
using UnrealBuildTool;

public class TalkBridge : ModuleRules
{
	public TalkBridge(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;

		// LiveLinkInterface is public: TalkBridgeLiveLinkSource(Factory).h include its headers.
		PublicDependencyModuleNames.AddRange(new string[] { "Core", "CoreUObject", "Engine", "LiveLinkInterface", "TalkBridgeProtocol" });
		PrivateDependencyModuleNames.AddRange(new string[]
		{
			"WebSockets",
			"AudioCaptureCore",
			"Slate",
			"SlateCore",
		});
	}
}
