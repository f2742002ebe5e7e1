from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from config.input_guards import JSONInputError, load_json


class StrictJSONParser(JSONParser):
    """JSON that says exactly one thing, within limits: duplicate keys are an error, not 'last
    one wins'; the size and nesting depth are bounded (config.input_guards.load_json, the
    guard every JSON body passes)."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return load_json(stream.read(), encoding=encoding)
        except JSONInputError as exc:
            raise ParseError(exc.message) from exc
