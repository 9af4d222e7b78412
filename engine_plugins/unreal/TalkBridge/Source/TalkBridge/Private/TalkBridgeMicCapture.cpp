#include "TalkBridgeMicCapture.h"

#include "AudioCaptureCore.h"
#include "Misc/ScopeLock.h"
#include "TalkBridgeLog.h"

namespace
{
	/** At most this many seconds wait for the game thread; older audio is dropped. */
	constexpr int32 MaxPendingSeconds = 2;
}

FTalkBridgeMicCapture::FTalkBridgeMicCapture() = default;

FTalkBridgeMicCapture::~FTalkBridgeMicCapture()
{
	Stop();
}

bool FTalkBridgeMicCapture::Start()
{
	if (bCapturing)
	{
		return true;
	}
	Capture = MakeUnique<Audio::FAudioCapture>();
	Audio::FAudioCaptureDeviceParams Params;  // the default input device, float samples
	Audio::FOnAudioCaptureFunction OnCapture =
		[this](const void* Data, int32 NumFrames, int32 NumChannels, int32 SampleRate, double /*StreamTime*/, bool /*bOverflow*/)
	{
		OnAudio(static_cast<const float*>(Data), NumFrames, NumChannels, SampleRate);
	};
	if (!Capture->OpenAudioCaptureStream(Params, MoveTemp(OnCapture), 1024) || !Capture->StartStream())
	{
		UE_LOG(LogTalkBridge, Warning, TEXT("Could not open the default microphone"));
		Capture.Reset();
		return false;
	}
	bCapturing = true;
	return true;
}

void FTalkBridgeMicCapture::Stop()
{
	if (Capture)
	{
		Capture->StopStream();
		Capture->CloseStream();
		Capture.Reset();
	}
	bCapturing = false;
}

void FTalkBridgeMicCapture::OnAudio(const float* Interleaved, int32 NumFrames, int32 NumChannels, int32 SampleRate)
{
	if (!Interleaved || NumFrames <= 0 || NumChannels <= 0)
	{
		return;
	}
	FScopeLock Guard(&Lock);
	PendingRate = SampleRate;
	for (int32 Frame = 0; Frame < NumFrames; ++Frame)
	{
		float Sum = 0.0f;
		for (int32 Channel = 0; Channel < NumChannels; ++Channel)
		{
			Sum += Interleaved[Frame * NumChannels + Channel];
		}
		Pending.Add(Sum / NumChannels);
	}
	const int32 Limit = MaxPendingSeconds * FMath::Max(SampleRate, 1);
	if (Pending.Num() > Limit)
	{
		Pending.RemoveAt(0, Pending.Num() - Limit);
	}
}

int32 FTalkBridgeMicCapture::Drain(TArray<float>& Out)
{
	FScopeLock Guard(&Lock);
	Out = MoveTemp(Pending);
	Pending.Reset();
	return PendingRate;
}
