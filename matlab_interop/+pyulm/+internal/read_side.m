function x = read_side(path, fmt)
%READ_SIDE Load the one array of a side file written by pyulm.matlab_bridge.write_side.
%   FMT is 'octave' (Octave's binary format, which Octave reads into its
%   complex and single arrays directly) or 'mat' (uncompressed MAT v5).
if strcmp(fmt, 'octave')
    opt = '-binary';
else
    opt = '-mat';
end
try
    S = load(path, opt);
catch err
    pyulm.internal.raise('pyulm:TransportFailed', sprintf('cannot read %s: %s', path, err.message));
end
names = sort(fieldnames(S));
if numel(names) == 2 && strncmp(names{1}, 'im', 2) && strncmp(names{2}, 're', 2)
    x = complex(S.(names{2}), S.(names{1}));  % complex single, as write_side sends it from Octave
    return
end
if numel(names) ~= 1
    pyulm.internal.raise('pyulm:TransportFailed', sprintf('%s holds %d variables, expected 1', path, numel(names)));
end
x = S.(names{1});
end
