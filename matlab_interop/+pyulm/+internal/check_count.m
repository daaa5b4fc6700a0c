function check_count(fname, n, lo, hi, what)
%CHECK_COUNT Raise pyulm:BadArgument unless lo <= n <= hi arguments were given.
%   pyulm.internal.check_count(FNAME, nargin, LO, HI, 'inputs') (or
%   'outputs' with nargout) replaces narginchk/nargoutchk, whose errors carry
%   MATLAB's or Octave's identifiers, so that every refusal of the wrapper
%   carries a pyulm: identifier and names the function.
if n >= lo && n <= hi
    return
end
if isinf(hi)
    expected = sprintf('at least %d', lo);
elseif lo == hi
    expected = sprintf('%d', lo);
else
    expected = sprintf('%d to %d', lo, hi);
end
pyulm.internal.raise('pyulm:BadArgument', ...
                     sprintf('%s: %d %s given, expected %s (see help %s)', fname, n, what, expected, fname));
end
