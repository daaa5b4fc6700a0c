function check(cond, varargin)
if ~cond
    error('pyulm:test:fail', varargin{:});
end
end
