// A Live Link source publishing the talkbridge face as one subject with ULiveLinkBasicRole:
// one float property per curve, named as MetaHuman's mh_arkit_mapping_pose expects
// (EyeBlinkLeft … TongueOut, + HeadYaw … RightEyePitch when asked).
//
// Two ways to get one:
//  - UTalkBridgeComponent registers one and pushes the face it samples on its audio clock;
//  - the Live Link panel (+ Source → TalkBridge) creates a standalone one from a connection
//    string (the server URL). It has no audio output, so it plays utterances on a wall clock;
//    the console command `TalkBridge.Say <text>` makes every standalone source speak.
#pragma once

#include "CoreMinimal.h"
#include "ILiveLinkSource.h"

class FTalkBridgeConnection;
class ILiveLinkClient;

class TALKBRIDGE_API FTalkBridgeLiveLinkSource : public ILiveLinkSource, public TSharedFromThis<FTalkBridgeLiveLinkSource>
{
public:
	explicit FTalkBridgeLiveLinkSource(FName InSubjectName, FString InDescription = FString());
	virtual ~FTalkBridgeLiveLinkSource() override;

	/** A source with its own connection to ConnectionString (ws://host:port/v1/stream). */
	static TSharedPtr<FTalkBridgeLiveLinkSource> CreateStandalone(const FString& ConnectionString);

	/** Publishes one frame; re-publishes the static data when the names change. Game thread. */
	void PublishCurves(const TArray<FName>& Names, const TArray<float>& Values);

	/** Standalone sources only: speak Text through this source's connection. */
	void Say(const FString& Text);

	//~ ILiveLinkSource
	virtual void ReceiveClient(ILiveLinkClient* InClient, FGuid InSourceGuid) override;
	virtual void InitializeSettings(ULiveLinkSourceSettings* Settings) override;
	virtual void Update() override;
	virtual bool IsSourceStillValid() const override;
	virtual bool RequestSourceShutdown() override;
	virtual FText GetSourceType() const override;
	virtual FText GetSourceMachineName() const override;
	virtual FText GetSourceStatus() const override;

private:
	void TickStandalone();

	ILiveLinkClient* Client = nullptr;
	FGuid SourceGuid;
	FName SubjectName;
	FString Description;
	TArray<FName> PublishedNames;

	// Standalone mode: its own connection and a wall clock standing in for an audio player.
	TUniquePtr<FTalkBridgeConnection> Connection;
	FString ConnectionString;
	int64 QueuedSamples = 0;
	double PlayedSamples = 0.0;
	double LastUpdate = 0.0;
	TArray<float> Values;
};
