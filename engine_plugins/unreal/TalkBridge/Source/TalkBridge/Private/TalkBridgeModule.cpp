#include "Modules/ModuleManager.h"
#include "TalkBridgeLog.h"

DEFINE_LOG_CATEGORY(LogTalkBridge);

IMPLEMENT_MODULE(FDefaultModuleImpl, TalkBridge)
