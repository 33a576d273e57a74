// Umbrella header of the gemma4 library.
#pragma once

#include <gemma4/convert.hpp>
#include <gemma4/error.hpp>
#include <gemma4/model.hpp>
#include <gemma4/model_info.hpp>
#include <gemma4/system.hpp>
#include <gemma4/version.hpp>
