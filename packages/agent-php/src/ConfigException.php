<?php

declare(strict_types=1);

namespace RiskHub;

/** Invalid options: thrown by Agent::create() / Agent::start() only, with one line saying which option and why. */
final class ConfigException extends \InvalidArgumentException
{
}
