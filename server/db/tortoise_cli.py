"""Configuration for the `tortoise` command, which developers run to make migrations:
`tortoise -c server.db.tortoise_cli.TORTOISE_ORM makemigrations`. The server never imports it."""

from server.db.config import tortoise_config
from server.settings import Settings

TORTOISE_ORM = tortoise_config(Settings.from_env().database_url)
