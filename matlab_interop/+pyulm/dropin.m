function moved = dropin()
%DROPIN Put pyulm's PALA drop-in ahead of PALA on the path.
%   pyulm.dropin() moves the folder matlab_interop/dropin to the front of the
%   path, so that SVDfilter, ULM_localization2D, ULM_tracking2D and
%   ULM_Track2MatOut run on pyulm. PALA's scripts start with
%   run('PALA_SetUpPaths.m'), whose addpath(genpath(PALA)) puts PALA's own
%   copies in front; call pyulm.dropin() on the line after it:
%     run('PALA_SetUpPaths.m');
%     pyulm.dropin();
%   moved = pyulm.dropin() is true when the drop-in was not in front.
%   Every drop-in function also checks, and warns once per session
%   (pyulm:DropinShadowed) with this line when PALA shadows one of them.
folder = pyulm.internal.dropin_check('folder');
moved = ~isempty(pyulm.internal.dropin_check('shadowed'));
addpath(folder, '-begin');
shadowed = pyulm.internal.dropin_check('shadowed');
if ~isempty(shadowed)
    pyulm.internal.raise('pyulm:DropinShadowed', ...
                         sprintf('pyulm.dropin: %s still resolves to %s after putting %s first on the path', ...
                                 shadowed{1}, which(shadowed{1}), folder));
end
if nargout == 0
    clear moved;
end
end
