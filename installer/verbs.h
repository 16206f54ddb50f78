/* labforge-install's verbs; same conventions as appliance/verbs.h (exit 0, 1, or 2 for bad
 * input). */
#pragma once

