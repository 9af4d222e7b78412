// Unreal's module boilerplate for TalkBridgeProtocol; the CMake build leaves this file out.
#include "Modules/ModuleManager.h"

IMPLEMENT_MODULE(FDefaultModuleImpl, TalkBridgeProtocol)
