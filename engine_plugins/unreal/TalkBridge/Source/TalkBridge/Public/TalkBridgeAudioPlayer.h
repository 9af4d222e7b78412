// Plays streamed PCM16 mono through a USoundWaveProcedural on an audio component, and
// reports how much of it has been played: the clock the face is sampled on.
#pragma once

#include "CoreMinimal.h"
#include "UObject/Object.h"

#include <cstdint>
#include <vector>

#include "TalkBridgeProtocol/PullClock.h"

#include "TalkBridgeAudioPlayer.generated.h"

class UAudioComponent;
class USoundWaveProcedural;

UCLASS()
class TALKBRIDGE_API UTalkBridgeAudioPlayer : public UObject
{
	GENERATED_BODY()

public:
	/** Creates the procedural wave at SampleRate and plays it on Component (indefinitely). */
	void Start(UAudioComponent* Component, int32 SampleRate);
	void Queue(const std::vector<int16_t>& Samples);
	/** Drops everything queued and restarts the played-samples count at 0. */
	void Flush();
	/**
	 * Samples heard by `Now` (seconds, FPlatformTime) since Start or the last Flush. The wave's
	 * waiting count drops a mixer block at a time; talkbridge::PullClock (the protocol core,
	 * tested there) reads between those pulls on the monotonic clock and takes OutputLatency
	 * off. Call once per tick.
	 */
	int64 PlayedSamples(double Now);
	bool IsStarted() const { return Wave != nullptr; }

	/** Seconds between leaving the FIFO and being heard (mixer buffers); subtracted from the clock. */
	float OutputLatency = 0.02f;

private:
	UPROPERTY()
	TObjectPtr<UAudioComponent> AudioComponent;

	UPROPERTY()
	TObjectPtr<USoundWaveProcedural> Wave;

	talkbridge::PullClock Clock{48000};
	int32 Rate = 48000;
};
