// Session events → the component's Blueprint events (private to the module).
#pragma once

#include "TalkBridgeProtocol/SessionEvents.h"

class UTalkBridgeComponent;

namespace TalkBridgeEvents
{
	void Broadcast(UTalkBridgeComponent& Component, const talkbridge::SessionEvent& Event);
}
