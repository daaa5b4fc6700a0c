function [listing, restore] = spy_transport(D, s)
% Use s with a Python wrapper that lists the transport directory (name and
% first 10 bytes of each file) after Python has answered.
listing = fullfile(D.workdir, 'spy listing.txt');
spy = fullfile(D.workdir, 'spy python');
q = @pyulm.internal.shell_quote;
fid = fopen(spy, 'w');
fprintf(fid, '#!/bin/sh\n%s "$@"\nst=$?\n', q(D.python));
fprintf(fid, 'for f in *; do printf ''%%s '' "$f"; head -c 10 "$f"; echo; done > %s\nexit $st\n', q(listing));
fclose(fid);
system(['chmod +x ' q(spy)]);
s0 = pyulm.internal.settings();
restore = onCleanup(@() pyulm.internal.settings(s0));
s.python = spy;
s.worker = false;  % the spy lists the folder after each Python: one Python per call
pyulm.internal.settings(s);
end
