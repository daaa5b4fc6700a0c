function varargout = call(func, nout, args, kwargs)
%CALL The one door from MATLAB/Octave to pyulm's Python functions.
%   [OUT1, ...] = pyulm.internal.call(FUNC, NOUT, ARGS, KWARGS) calls the
%   Python function registered under FUNC in pyulm.matlab_bridge.FUNCTIONS
%   with the positional arguments in cell ARGS and the keyword arguments in
%   struct KWARGS, and returns NOUT outputs. The transport ('py' or 'file')
%   comes from pyulm.setup; Octave always uses 'file'.
%   A Python exception becomes an error with identifier
%   pyulm:Python:<ExceptionType> and the Python message.
if nargin < 4 || isempty(kwargs)
    kwargs = struct();
end
if nargin < 3
    args = {};
end
if ~iscell(args)
    args = {args};
end
nout = max(1, nout);
s = pyulm.internal.settings();
transport = s.transport;
if strcmp(transport, 'auto')
    transport = pyulm.internal.pick_transport();
end
switch transport
    case 'file'
        out = pyulm.internal.call_file(func, nout, args, kwargs, s);
    case 'py'
        out = pyulm.internal.call_py(func, nout, args, kwargs);
    otherwise
        pyulm.internal.raise('pyulm:BadSetting', ...
                             sprintf(['unknown transport ''%s''; run pyulm.setup(''Transport'', ' ...
                                      '''file'') or pyulm.setup(''Transport'', ''py'')'], transport));
end
varargout = out(1:nout);
end
