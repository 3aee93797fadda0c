"""schemathesis hooks of the contract check, loaded through schemathesis.toml."""

import schemathesis


@schemathesis.hook
def map_query(context, query):
    """Writes a whole number in a query string as digits, as any client of the document does.

    schemathesis feeds values it saw accepted (say `userId` 147.0 in a JSON body, where JSON
    Schema and the server take it as the integer 147) into later requests; in a query string it
    would render that float as `147.0`, which is no integer's text (400), though its generator
    writes integers there as digits. Only such whole floats change; every other value stays.
    """
    if not query:
        return query
    return {
        name: int(value) if isinstance(value, float) and value.is_integer() else value
        for name, value in query.items()
    }
