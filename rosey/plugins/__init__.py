"""rosey's plugins: every module here (and in configured drop-in directories) may provide
:class:`rosey.plugin.IRoseyPlugin` objects, found with ``twisted.plugin.getPlugins``."""

from twisted.plugin import pluginPackagePaths

__path__.extend(pluginPackagePaths(__name__))
__all__: list[str] = []
