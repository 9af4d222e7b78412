// The default microphone through Unreal's AudioCapture (AudioCaptureCore), downmixed to mono.
// The capture callback runs on the audio capture thread; Drain() hands the samples to the
// game thread, which sends them as `mic` messages.
#pragma once

#include "CoreMinimal.h"
#include "HAL/CriticalSection.h"

namespace Audio
{
	class FAudioCapture;
}

class TALKBRIDGE_API FTalkBridgeMicCapture
{
public:
	FTalkBridgeMicCapture();
	~FTalkBridgeMicCapture();

	bool Start();
	void Stop();
	bool IsCapturing() const { return bCapturing; }

	/** Moves the captured mono samples into Out; returns their sample rate (0 before any). */
	int32 Drain(TArray<float>& Out);

private:
	void OnAudio(const float* Interleaved, int32 NumFrames, int32 NumChannels, int32 SampleRate);

	TUniquePtr<Audio::FAudioCapture> Capture;
	FCriticalSection Lock;
	TArray<float> Pending;
	int32 PendingRate = 0;
	bool bCapturing = false;
};
