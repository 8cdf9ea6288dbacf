"""The MCP front end: the REST API's operations as MCP tools, over the same governed core.

``tools`` builds the server (tools, resources, how a confirm is asked), ``asgi`` carries the
SDK's Streamable HTTP and SSE apps inside the aiohttp app, ``http`` mounts them and checks who
calls, and ``stdio`` serves one local client (Claude Desktop, Cursor) on stdin and stdout.
"""
