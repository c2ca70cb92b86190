"""Hostile comment texts: each would run script (set `window.__xss`, open a dialog) or
render markup if the page interpolated it unescaped into HTML, an attribute, a URL or a
script. Vectors after the OWASP XSS filter evasion cheat sheet and PortSwigger's XSS list,
each also tried behind the breakouts a template bug would need."""

from __future__ import annotations

JS = "window.__xss=1;alert(1)"

VECTORS: tuple[str, ...] = (
    f"<script>{JS}</script>",
    f"<ScRiPt>{JS}</sCrIpT>",
    f"<scr<script>ipt>{JS}</scr</script>ipt>",
    f"</script><script>{JS}</script>",
    f"<script src=data:text/javascript,{JS}></script>",
    f"<img src=x onerror={JS}>",
    f"<img/src/onerror={JS}>",
    f'<img src="x" onerror="{JS}">',
    "<img src=x onerror=&#119;&#105;&#110;&#100;&#111;&#119;.__xss=1>",
    f"<img src=x:{JS} onerror=eval(src.slice(2))>",
    f"<svg onload={JS}>",
    f"<svg/onload={JS}>",
    f"<svg><script>{JS}</script></svg>",
    f"<svg><animate onbegin={JS} attributeName=x dur=1s>",
    f'<svg><a xlink:href="javascript:{JS}"><text x=20 y=20>click</text></a></svg>',
    f"<svg><set attributeName=onload to={JS}>",
    f"<math><mtext><table><mglyph><style><img src=x onerror={JS}>",
    f"<body onload={JS}>",
    f'<iframe src="javascript:{JS}"></iframe>',
    f'<iframe srcdoc="<script>parent.{JS}</script>"></iframe>',
    f'<a href="javascript:{JS}">click me</a>',
    f'<a href="&#106;avascript:{JS}">click me</a>',
    f'<a href=" javascript:{JS}">click me</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data link</a>',
    f"<details open ontoggle={JS}>",
    f'<video><source onerror="{JS}"></video>',
    f"<audio src=x onerror={JS}>",
    f"<input autofocus onfocus={JS}>",
    f"<select autofocus onfocus={JS}></select>",
    f"<textarea autofocus onfocus={JS}></textarea>",
    f"<marquee onstart={JS}>scroll</marquee>",
    f'<object data="javascript:{JS}"></object>',
    f'<embed src="javascript:{JS}">',
    f'<form action="javascript:{JS}"><button id=xss-btn>go</button></form>',
    f'<meta http-equiv="refresh" content="0;url=javascript:{JS}">',
    '<base href="javascript:/">',
    f'<link rel=stylesheet href="javascript:{JS}">',
    f"<style>@import 'javascript:{JS}';</style>",
    f'<div style="background:url(javascript:{JS})">styled</div>',
    f'<noscript><p title="</noscript><img src=x onerror={JS}>">',
    f'<!--<img src="--><img src=x onerror={JS}//">',
    f"<![CDATA[<script>{JS}</script>]]>",
    f'<?xml version="1.0"?><script>{JS}</script>',
    f"<dialog open onclose={JS}>",
    f"<x contenteditable autofocus onfocus={JS}>edit me</x>",
    f'<div onpointerenter={JS} class="everywhere">hover</div>',
    f"<template><img src=x onerror={JS}></template>",
    f"<img src=1 onerror={JS} ",
    f'" onmouseover="{JS}" x="',
    f"' autofocus onfocus='{JS}' x='",
    f'"><img src=x onerror={JS}>',
    f"'><svg onload={JS}>",
    f"</textarea><script>{JS}</script>",
    f"</title><script>{JS}</script>",
    f"</mark><img src=x onerror={JS}><mark>",
    f"</div></article><script>{JS}</script>",
    f'";{JS};//',
    f"';{JS};//",
    f"`;{JS};//",
    f"javascript:{JS}",
    f"\\u003cscript\\u003e{JS}\\u003c/script\\u003e",
    f"%3Cscript%3E{JS}%3C/script%3E",
    f"&lt;script&gt;{JS}&lt;/script&gt;",
    f"＜script＞{JS}＜/script＞",
    f"\u202e<script>{JS}</script>",
    "{{7*7}}",
    "${7*7}",
    "{{constructor.constructor('window.__xss=1')()}}",
    "{% for x in range(3) %}{{ x }}{% endfor %}",
    "{{ config }} {{ self.__init__.__globals__ }}",
    "<%= 7*7 %> #{7*7} [[7*7]]",
)

# The same vector alone, inside ordinary text, after a quote breakout, and across lines:
# each reaches a different parsing state if escaping is missing somewhere.
WRAPPERS: tuple[tuple[str, str], ...] = (
    ("", ""),
    ("Great article, but ", " — think again."),
    ('">', ""),
    ("line one\n\n", "\nline three"),
)


def payloads() -> list[str]:
    seen: dict[str, None] = {}
    for before, after in WRAPPERS:
        for vector in VECTORS:
            seen.setdefault(f"{before}{vector}{after}", None)
    return list(seen)
